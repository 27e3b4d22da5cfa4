"""Common base of the four vendor hooks: Connection -> vendor API -> sync/async client."""

from __future__ import annotations

import importlib
import json
from functools import cached_property
from typing import Any, ClassVar

import httpx
from airflow.sdk import BaseHook

from airflow_provider_voice.connections import CONNECTION_TYPES, ConnectionType
from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VoiceProviderError
from airflow_provider_voice.redaction import redact, register_secret
from airflow_provider_voice.transport import DEFAULT_TIMEOUT, RetryPolicy
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi, VendorClient

__all__ = ["CAPABILITIES", "VoiceHook", "get_voice_hook"]

#: capability name -> {vendor: "module:Class"}; operators look capabilities up through the hook
CAPABILITIES: dict[str, dict[str, str]] = {
    "campaign": {
        "velip": "airflow_provider_voice.vendors.velip.campaign:VelipCampaigns",
        "octopush": "airflow_provider_voice.vendors.octopush.campaign:OctopushCampaigns",
        "kaleyra": "airflow_provider_voice.vendors.kaleyra.campaign:KaleyraCampaigns",
    },
    "sms": {
        "televoips": "airflow_provider_voice.vendors.televoips.sms:TeleVoipsSms",
        "velip": "airflow_provider_voice.vendors.velip.sms:VelipSms",
    },
    "blacklist": {
        "kaleyra": "airflow_provider_voice.vendors.kaleyra.blacklist:KaleyraBlacklist",
        "televoips": "airflow_provider_voice.vendors.televoips.blacklist:TeleVoipsBlacklist",
    },
    "click_to_call": {
        "kaleyra": "airflow_provider_voice.vendors.kaleyra.click_to_call:KaleyraClickToCall",
        "velip": "airflow_provider_voice.vendors.velip.click_to_call:VelipClickToCall",
    },
}


def get_voice_hook(conn_id: str, *, vendors: tuple[str, ...] = (), purpose: str = "this task") -> Any:
    """The hook of ``conn_id`` (the connection type picks the class), checked before any request.

    :param vendors: connection types accepted (empty: any).
    :param purpose: what needs the connection, for the error message.
    :raises ValidationError: the connection is of another type.
    """
    hook = BaseHook.get_hook(conn_id)
    conn_type = getattr(hook, "conn_type", None)
    if vendors and conn_type not in vendors:
        raise ValidationError(
            "conn_id",
            conn_id,
            f"{purpose} needs a {' or '.join(vendors)} connection, not {conn_type or type(hook).__name__}",
        )
    return hook


class VoiceHook(BaseHook):
    """Base hook: reads the Airflow Connection, builds the vendor API and its clients.

    Subclasses set :attr:`conn_type` and implement :meth:`build_api` and :meth:`probe`.

    :param conn_id: the Airflow connection id (default ``<vendor>_default``).
    :param timeout: per-request timeout in seconds.
    :param retry: retry policy for every call (default: 5 tries, ``Retry-After`` honoured).
    """

    conn_name_attr = "conn_id"
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.connection_type().default_conn_id
        self.timeout = timeout
        self.retry = retry

    # -- connection type metadata ------------------------------------------------------
    @classmethod
    def connection_type(cls) -> ConnectionType:
        return CONNECTION_TYPES[cls.conn_type]

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form layout for Airflow 3.1 (3.2+ reads ``ui-field-behaviour`` from the provider info)."""
        return cls.connection_type().ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 3.1 (3.2+ reads ``conn-fields`` from the provider info)."""
        fields = cls.connection_type().extra_fields
        if not fields:
            return {}
        try:
            from wtforms import PasswordField, StringField
        except ImportError:  # pragma: no cover - UI extras not installed
            return {}
        return {
            name: (PasswordField if f.secret else StringField)(f.label, description=f.description, default=f.default)
            for name, f in fields.items()
        }

    # -- api and clients ---------------------------------------------------------------
    def extra_value(self, extra: dict[str, Any], name: str) -> Any:
        """An extra field, stored plain (``name``) or prefixed (``extra__<type>__<name>``)."""
        value = extra.get(name)
        if value in (None, ""):
            value = extra.get(f"extra__{self.conn_type}__{name}")
        return None if value == "" else value

    def base_urls(self, conn: Any, extra: dict[str, Any]) -> dict[str, str]:
        """``default`` base URL from the connection host (or ``base_url`` extra) when set."""
        host = conn.host or self.extra_value(extra, "base_url")
        if host and "://" not in host:
            host = f"https://{host}"
        return {"default": host} if host else {}

    def build_api(self, conn: Any, extra: dict[str, Any]) -> VendorApi:  # pragma: no cover - abstract
        """The vendor API from a connection and its decoded ``extra``."""
        raise NotImplementedError

    def register_secrets(self, conn: Any, extra: dict[str, Any]) -> None:
        """Hand the connection's credentials (password, secret extras) to the secrets masker before
        anything can log or raise them."""
        register_secret(getattr(conn, "password", None))
        for name, spec in self.connection_type().extra_fields.items():
            if spec.secret:
                value = self.extra_value(extra, name)
                register_secret(value if isinstance(value, str) else None)

    @cached_property
    def api(self) -> VendorApi:
        """The vendor API built from the connection (fetched once, at first use)."""
        conn = self.get_connection(self.conn_id)
        extra = conn.extra_dejson or {}
        self.register_secrets(conn, extra)
        return self.build_api(conn, extra)

    async def aget_api(self) -> VendorApi:
        """The vendor API, reading the connection with Airflow's async API (for triggers)."""
        if "api" not in self.__dict__:
            conn = await self.aget_connection(self.conn_id)
            if hasattr(conn, "aextra_dejson"):  # Airflow >= 3.3.2: masks extras without blocking the loop
                extra = await conn.aextra_dejson()
            else:
                extra = json.loads(conn.extra) if conn.extra else {}
            self.register_secrets(conn, extra or {})
            self.__dict__["api"] = self.build_api(conn, extra or {})
        return self.__dict__["api"]

    @cached_property
    def client(self) -> VendorClient[Any]:
        """Blocking client for this connection: ``hook.client.<endpoint>(...)``."""
        return VendorClient(self.api, timeout=self.timeout, retry=self.retry)

    async def aget_client(self) -> AsyncVendorClient[Any]:
        """A new asyncio client (one per event loop; close it with ``aclose``)."""
        return AsyncVendorClient(await self.aget_api(), timeout=self.timeout, retry=self.retry)

    def get_conn(self) -> VendorClient[Any]:
        """Airflow's conventional accessor: the blocking client."""
        return self.client

    # -- capabilities -------------------------------------------------------------------
    def capability(self, name: str) -> Any:
        """The object implementing capability ``name`` (``campaign``, ``sms``...) for this vendor.

        Raises :class:`CapabilityNotSupportedError` naming the vendors that have it.
        """
        vendors = CAPABILITIES.get(name)
        if vendors is None:
            raise CapabilityNotSupportedError(f"unknown capability {name!r}; known: {', '.join(sorted(CAPABILITIES))}")
        target = vendors.get(self.conn_type)
        if target is None:
            raise CapabilityNotSupportedError(
                f"{self.hook_name} connections cannot do {name!r}; use a connection of type "
                + " or ".join(sorted(vendors)),
                vendor=self.conn_type,
            )
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise CapabilityNotSupportedError(
                f"{name!r} on {self.conn_type} is not available in this version of airflow-provider-voice",
                vendor=self.conn_type,
            ) from None
        return getattr(module, attr)(self)

    # -- connection test ---------------------------------------------------------------
    def probe(self) -> str:  # pragma: no cover - abstract
        """Make one harmless authenticated call; return a short description of the account."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: one harmless authenticated call; on failure, the vendor's reason."""
        try:
            detail = self.probe()
        except VoiceProviderError as exc:
            return False, str(exc)
        except Exception as exc:  # a bad URL, a missing field...: say so instead of crashing the UI
            return False, redact(f"{type(exc).__name__}: {exc}")
        return True, f"Connection successfully tested ({detail})"
