"""The provider's Airflow plugin: the vendor webhook receiver, mounted on the api-server.

Registered through the ``airflow.plugins`` entry point (``pyproject.toml``), so installing the
provider is enough: the api-server mounts :data:`~airflow_provider_voice.plugins.receiver.app` at
``/voice-webhooks``. Importing this module is cheap (the app is built on first use): every Airflow
process loads plugins, only the api-server serves them.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

__all__ = ["URL_PREFIX", "VoiceWebhooksPlugin"]

URL_PREFIX = "/voice-webhooks"


class _LazyApp:
    """The receiver's FastAPI app, imported when the api-server first touches it."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._apps()[index]

    def __iter__(self) -> Any:
        return iter(self._apps())

    def __len__(self) -> int:
        return 1

    @staticmethod
    def _apps() -> list[dict[str, Any]]:
        from airflow_provider_voice.plugins.receiver import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "Voice provider webhooks"}]


class VoiceWebhooksPlugin(AirflowPlugin):
    """Receives Velip, TeleVoIPs, Octopush and Kaleyra webhooks and turns them into Asset events."""

    name = "voice_webhooks"
    fastapi_apps = _LazyApp()  # type: ignore[assignment]
