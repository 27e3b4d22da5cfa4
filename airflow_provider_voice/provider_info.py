"""``get_provider_info()`` payload: what ``airflow providers list/hooks`` show."""

from __future__ import annotations

from typing import Any

from airflow_provider_voice.vendors.registry import CONNECTION_TYPES, VENDORS
from airflow_provider_voice.version import __version__

__all__ = ["provider_info"]

_PKG = "airflow_provider_voice"


def provider_info() -> dict[str, Any]:
    """The provider metadata (``package-name`` equals the distribution name)."""
    return {
        "package-name": "airflow-provider-voice",
        "name": "Voice & SMS (Velip, TeleVoIPs, Octopush, Kaleyra)",
        "description": "Voice campaigns, SMS, call records, blacklists and click-to-call on Velip V2, "
        "TeleVoIPs, Octopush and Kaleyra Voice.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": name,
                "external-doc-url": url,
                "tags": ["service"],
            }
            for name, url in (vendor.integration for vendor in VENDORS)
        ],
        "hooks": [
            {
                "integration-name": "Voice",
                "python-modules": list(
                    dict.fromkeys(ct.hook_class.rpartition(".")[0] for ct in CONNECTION_TYPES.values())
                ),
            },
        ],
        "operators": [
            {"integration-name": "Voice", "python-modules": _existing(f"{_PKG}.operators", _OPERATOR_MODULES)}
        ],
        "sensors": [{"integration-name": "Voice", "python-modules": _existing(f"{_PKG}.sensors", _SENSOR_MODULES)}],
        "triggers": [{"integration-name": "Voice", "python-modules": _existing(f"{_PKG}.triggers", _TRIGGER_MODULES)}],
        "connection-types": [ct.provider_entry() for ct in CONNECTION_TYPES.values()],
        "extra-links": [
            f"{_PKG}.operators.links.CampaignConsoleLink",
            f"{_PKG}.operators.links.ClickToCallConsoleLink",
            f"{_PKG}.operators.links.SmsConsoleLink",
            f"{_PKG}.operators.links.CdrConsoleLink",
        ],
        "notifications": [
            "airflow_provider_voice.notifiers.sms.SmsNotifier",
            "airflow_provider_voice.notifiers.voice.VoiceCallNotifier",
        ],
        "config": {
            "voice": {
                "description": "Options of airflow-provider-voice.",
                "options": {
                    "checkpoint_path": {
                        "description": "Where the campaign and SMS operators record accepted frames, so a "
                        "retried task never calls or texts anyone twice. A local path or file:// URL, or "
                        "object storage (s3://..., gs://...) shared by every worker, which also survives a lost "
                        "worker. Empty: $AIRFLOW_HOME/voice/checkpoints.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://my-bucket/airflow/voice-checkpoints",
                        "default": "",
                    },
                    "events_path": {
                        "description": "Where vendor events (webhooks, polled records) are stored before they are "
                        "announced as Asset events, and read back by tasks. The api-server, the triggerer and "
                        "every worker must see the same place: object storage on Celery/Kubernetes. Empty: "
                        "$AIRFLOW_HOME/voice/events.",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "s3://my-bucket/airflow/voice-events",
                        "default": "",
                    },
                    "outcomes_path": {
                        "description": "Where outcome tables (one row per recipient: who was reached) are "
                        "written when a task does not say: <outcomes_path>/<dag_id>/<run_id>/<task_id>.csv and "
                        ".parquet. Empty: $AIRFLOW_HOME/voice/outcomes.",
                        "version_added": "0.4.0",
                        "type": "string",
                        "example": "s3://my-bucket/airflow/voice-outcomes",
                        "default": "",
                    },
                    "notifications_path": {
                        "description": "Where SmsNotifier and VoiceCallNotifier record the messages they sent, so one "
                        "failure does not page the same number twice within the dedup window (task retries, DAG "
                        "callbacks, other workers). A local path or file:// URL, or object storage (s3://..., gs://...) "
                        "shared by every worker. Records hold no phone number and no text. Empty: "
                        "$AIRFLOW_HOME/voice/notifications.",
                        "version_added": "0.5.0",
                        "type": "string",
                        "example": "s3://my-bucket/airflow/voice-notifications",
                        "default": "",
                    },
                    "contact_policy": {
                        "description": "The contact policy of every campaign and SMS task that does not give one "
                        "(contact_policy=...; False on a task: none): a preset name (FR_MARKETING, US_TCPA, "
                        "IN_TRAI_COMMERCIAL) or a JSON object of ContactPolicy fields. Recipients are contacted only "
                        "inside the policy's windows in their own time zone; see docs/compliance.md. Empty: none.",
                        "version_added": "0.6.0",
                        "type": "string",
                        "example": "FR_MARKETING",
                        "default": "",
                    },
                    "contact_ledger_path": {
                        "description": "Where the contact ledger of the frequency rules (contacts per period, minimum "
                        "gap, pause after a refusal) lives: a local path or file:// URL, or object storage shared by "
                        "every worker. Entries are keyed hashes of the numbers, never the numbers. Empty: "
                        "$AIRFLOW_HOME/voice/contact_ledger.",
                        "version_added": "0.6.0",
                        "type": "string",
                        "example": "s3://my-bucket/airflow/voice-contact-ledger",
                        "default": "",
                    },
                    "contact_ledger_key": {
                        "description": "The secret key of the contact ledger's number hashes (keep it in a secrets "
                        "backend or AIRFLOW__VOICE__CONTACT_LEDGER_KEY). Empty: a random key is created once in the "
                        "ledger's location (the hashes are then only as secret as that location).",
                        "version_added": "0.6.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": "",
                    },
                    "price_table": {
                        "description": "Prices of the dry-run and max_cost estimates: a JSON file path or inline JSON "
                        "(per vendor and channel, a default and per-country prices, a currency; see docs/compliance.md). "
                        "Octopush voice campaigns are priced by Octopush itself (simulation_mode). Empty: none (the "
                        "estimate is unknown, and max_cost refuses to send).",
                        "version_added": "0.6.0",
                        "type": "string",
                        "example": '{"currency": "EUR", "velip": {"voice": {"default": 0.08}}}',
                        "default": "",
                    },
                    "namespace": {
                        "description": "Name of this Airflow deployment in checkpoint paths and vendor "
                        "idempotency keys, so two deployments with the same DAG, task and run ids (a staging "
                        "copy, a migration) never share a checkpoint nor mistake each other's requests. "
                        "Empty: derived from [database] sql_alchemy_conn (without the password); set it "
                        "explicitly when that URL differs between workers of one deployment.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "prod-eu",
                        "default": "",
                    },
                },
            }
        },
    }


#: modules are listed here as they are added (names only: nothing is imported)
_OPERATOR_MODULES = (
    "campaign", "sms", "blacklist", "cdr", "click_to_call", "messages", "kaleyra", "reports", "events", "outcomes",
    "paging", "voice_call", "records_sql",
)  # fmt: skip
_SENSOR_MODULES = ("campaign", "cdr", "click_to_call", "health")
_TRIGGER_MODULES = ("campaign", "cdr", "click_to_call", "health", "events", "paging", "voice_call")


def _existing(package: str, names: tuple[str, ...]) -> list[str]:
    """Module names of ``package`` that exist on disk (no import)."""
    import importlib.util

    found = []
    for name in names:
        try:
            if importlib.util.find_spec(f"{package}.{name}") is not None:
                found.append(f"{package}.{name}")
        except ModuleNotFoundError:
            continue
    return found
