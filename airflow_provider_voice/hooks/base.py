"""Common base of the four vendor hooks: Connection -> vendor API -> sync/async client."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
from airflow.sdk import BaseHook, Connection

from airflow_provider_voice.connections import ConnectionType
from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VoiceProviderError
from airflow_provider_voice.redaction import redact, register_secret
from airflow_provider_voice.transport import (
    DEFAULT_TIMEOUT,
    SHARED_ASYNC_CLIENTS,
    AsyncClientLease,
    Call,
    Flow,
    PagedFlow,
    RetryPolicy,
)
from airflow_provider_voice.vendors.access import ConnectionFields, Vendor, VendorAccess
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi, VendorClient

if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.protocols import (
        BlacklistCapability,
        CampaignCapability,
        ClickToCallCapability,
        SmsCapability,
    )
    from airflow_provider_voice.capabilities.voice_call import VoiceCallCapability

__all__ = ["SharedAsyncVendorClient", "VoiceHook", "get_voice_hook", "shared_client_key"]

ApiT = TypeVar("ApiT", bound=VendorApi)
T = TypeVar("T")
ItemT = TypeVar("ItemT")
#: key of the hash in :func:`shared_client_key`: a leaked key says nothing of a password, even a weak one
_KEY_SALT = os.urandom(16)


def shared_client_key(fields: ConnectionFields) -> str:
    """What a connection's shared asyncio client depends on: ``<conn_id>#<keyed hash of every field>``.

    A connection changed in any field (host, login, password, extras) gets another key, so a new
    client; no secret appears in the key (a BLAKE2b keyed with a random per-process salt).

    :param fields: the connection, as read.
    """
    material = json.dumps(
        [fields.conn_type, fields.host, fields.login, fields.password, dict(fields.extra)], sort_keys=True, default=str
    )
    digest = hashlib.blake2b(material.encode(), key=_KEY_SALT, digest_size=16).hexdigest()
    return f"{fields.conn_id}#{digest}"


class SharedAsyncVendorClient(AsyncVendorClient[ApiT]):
    """An asyncio client whose HTTP connections are the shared pool of its connection in this event
    loop (:data:`~airflow_provider_voice.transport.SHARED_ASYNC_CLIENTS`): what a trigger polls with.

    Same calls as :class:`~airflow_provider_voice.vendors.base.AsyncVendorClient` (its own timeout,
    retry policy and credentials; only the sockets are shared); :meth:`aclose` gives the pool back
    (the last holder closes it). Usable only in the event loop it was made in.

    :param api: the vendor API.
    :param lease: the lease on the shared ``httpx.AsyncClient``.
    :param timeout: per-request timeout.
    :param retry: retry policy.
    """

    def __init__(
        self,
        api: ApiT,
        lease: AsyncClientLease,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(api, timeout=timeout, retry=retry, http_client=lease.client)
        self._lease = lease

    async def send(self, call: Call[T]) -> T:
        self._lease.check_loop()
        return await super().send(call)

    async def run(self, flow: Flow[T]) -> T:
        self._lease.check_loop()
        return await super().run(flow)

    def iterate(self, flow: PagedFlow[ItemT, Any]) -> AsyncIterator[ItemT]:
        self._lease.check_loop()
        return super().iterate(flow)

    def stream(self, call: Call[object]) -> AbstractAsyncContextManager[httpx.Response]:
        self._lease.check_loop()
        return super().stream(call)

    async def aclose(self) -> None:
        """Give the shared pool back (never closes it under another holder); a second call does nothing."""
        await self._lease.release()


def get_voice_hook(
    conn_id: str,
    *,
    vendors: tuple[str, ...] = (),
    purpose: str = "this task",
    hook_params: dict[str, Any] | None = None,
) -> VoiceHook[Any]:
    """The hook of ``conn_id`` (the connection type picks the class), checked before any request.

    :param vendors: connection types accepted (empty: any).
    :param purpose: what needs the connection, for the error message.
    :param hook_params: keyword arguments of the hook (``timeout``, ``retry``).
    :raises ValidationError: the connection is of another type, or not a voice connection.
    """
    hook = BaseHook.get_hook(conn_id, hook_params=hook_params)
    conn_type = getattr(hook, "conn_type", None)
    if not isinstance(hook, VoiceHook) or (vendors and conn_type not in vendors):
        wanted = " or ".join(vendors) if vendors else "voice (velip, televoips, octopush or kaleyra)"
        raise ValidationError(
            "conn_id",
            conn_id,
            f"{purpose} needs a {wanted} connection, not {conn_type or type(hook).__name__}",
        )
    return hook


class VoiceHook(BaseHook, Generic[ApiT]):
    """Base hook: reads the Airflow Connection, builds the vendor API and its clients.

    A vendor's hook sets :attr:`vendor` (its registry entry: connection form, API builder, probe)
    and overrides the capability methods it offers (:meth:`campaigns`, :meth:`sms`,
    :meth:`blacklist`, :meth:`click_to_call`, :meth:`voice_call`); the others raise
    :class:`~airflow_provider_voice.errors.CapabilityNotSupportedError` naming the vendors that have them.
    Requests: ``hook.client.send(hook.api.<endpoint>(...))``.

    :param conn_id: the Airflow connection id (default ``<vendor>_default``).
    :param timeout: per-request timeout in seconds.
    :param retry: retry policy for every call (default: 5 tries, ``Retry-After`` honoured).
    """

    conn_name_attr = "conn_id"
    vendor: ClassVar[Vendor[Any]]
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    default_conn_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registered = cls.__dict__.get("vendor")
        if registered is not None:  # Airflow reads these class attributes
            cls.conn_type = registered.connection.conn_type
            cls.hook_name = registered.connection.hook_name
            cls.default_conn_name = registered.connection.default_conn_id

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
        """This vendor's connection type (form fields, labels)."""
        return cls.vendor.connection

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
    def connection_fields(self, conn: Connection, extra: dict[str, Any]) -> ConnectionFields:
        """The Airflow Connection as plain data, its credentials handed to the secrets masker first.

        :param conn: the Airflow Connection.
        :param extra: its decoded ``extra`` JSON.
        """
        fields = ConnectionFields(
            conn_id=self.conn_id,
            conn_type=self.conn_type,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )
        register_secret(fields.password)
        for name, spec in self.connection_type().extra_fields.items():
            if spec.secret:
                value = fields.extra_value(name)
                register_secret(value if isinstance(value, str) else None)
        return fields

    def _access(self, fields: ConnectionFields) -> VendorAccess[ApiT]:
        api: ApiT = self.vendor.build_api(fields)
        self._shared_client_key = shared_client_key(fields)
        return VendorAccess(
            api, conn_id=self.conn_id, settings=self.vendor.settings(fields), timeout=self.timeout, retry=self.retry
        )

    @cached_property
    def access(self) -> VendorAccess[ApiT]:
        """The vendor API and its clients, built from the connection (fetched once, at first use)."""
        conn = self.get_connection(self.conn_id)
        return self._access(self.connection_fields(conn, conn.extra_dejson or {}))

    async def aget_access(self) -> VendorAccess[ApiT]:
        """:attr:`access`, reading the connection with Airflow's async API (for triggers)."""
        if "access" not in self.__dict__:
            conn = await self.aget_connection(self.conn_id)
            if hasattr(conn, "aextra_dejson"):  # Airflow >= 3.3.2: masks extras without blocking the loop
                extra = await conn.aextra_dejson()
            else:
                extra = json.loads(conn.extra) if conn.extra else {}
            self.__dict__["access"] = self._access(self.connection_fields(conn, extra or {}))
        access: VendorAccess[ApiT] = self.__dict__["access"]
        return access

    @property
    def api(self) -> ApiT:
        """The vendor API: builds requests (``hook.api.get_user_id()`` is a call, not sent yet)."""
        return self.access.api

    async def aget_api(self) -> ApiT:
        """The vendor API, reading the connection with Airflow's async API (for triggers)."""
        return (await self.aget_access()).api

    @property
    def client(self) -> VendorClient[ApiT]:
        """The blocking client: ``hook.client.send(hook.api.<endpoint>(...))``."""
        return self.access.client()

    async def aget_client(self) -> AsyncVendorClient[ApiT]:
        """A new asyncio client (one per event loop; close it with ``aclose``)."""
        return (await self.aget_access()).async_client()

    async def aget_shared_client(self) -> AsyncVendorClient[ApiT]:
        """An asyncio client on the shared pool of this connection in the running event loop (triggers:
        one pool per connection in the triggerer, not one per trigger); ``aclose`` gives it back.

        When the access was not built from a connection here (a test set it), a new client of its own.
        """
        access = await self.aget_access()
        key: str | None = self.__dict__.get("_shared_client_key")
        if key is None:
            return access.async_client()
        lease = SHARED_ASYNC_CLIENTS.acquire(key)
        return SharedAsyncVendorClient(access.api, lease, timeout=access.timeout, retry=access.retry)

    def get_conn(self) -> VendorClient[ApiT]:
        """Airflow's conventional accessor: the blocking client."""
        return self.client

    # -- capabilities -------------------------------------------------------------------
    def campaigns(self) -> CampaignCapability:
        """Voice campaigns on this connection's vendor."""
        raise self._unsupported("campaigns")

    def sms(self) -> SmsCapability:
        """SMS on this connection's vendor."""
        raise self._unsupported("sms")

    def blacklist(self) -> BlacklistCapability:
        """The blacklist (or opt-out list) of this connection's vendor."""
        raise self._unsupported("blacklist")

    def click_to_call(self) -> ClickToCallCapability:
        """Click-to-call on this connection's vendor."""
        raise self._unsupported("click_to_call")

    def voice_call(self) -> VoiceCallCapability:
        """A single call ("call this person, say this text") on this connection's vendor."""
        raise self._unsupported("voice_call")

    def _unsupported(self, capability: str) -> CapabilityNotSupportedError:
        from airflow_provider_voice.hooks import vendor_hooks

        having = sorted(
            h.conn_type for h in vendor_hooks() if getattr(h, capability) is not getattr(VoiceHook, capability)
        )
        return CapabilityNotSupportedError(
            f"{self.hook_name} connections cannot do {capability!r}; use a connection of type " + " or ".join(having),
            vendor=self.conn_type,
        )

    # -- connection test ---------------------------------------------------------------
    def probe(self) -> str:
        """Make one harmless authenticated call; return a short description of the account."""
        return self.vendor.probe(self.access)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: one harmless authenticated call; on failure, the vendor's reason."""
        try:
            detail = self.probe()
        except VoiceProviderError as exc:
            return False, str(exc)
        except Exception as exc:  # a bad URL, a missing field...: say so instead of crashing the UI
            return False, redact(f"{type(exc).__name__}: {exc}")
        return True, f"Connection successfully tested ({detail})"
