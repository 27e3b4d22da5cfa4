"""What a vendor's capabilities are given: the connection's fields, the API, and a client factory.

A capability (``VelipCampaigns``, ``TeleVoipsSms``...) never sees the Airflow hook. The hook reads
the Airflow Connection once, turns it into :class:`ConnectionFields` (plain data) and builds a
:class:`VendorAccess`: the vendor API, the non-secret connection settings the capability may need
(TeleVoIPs ``owned_numbers``...) and the clients, each with the hook's timeout and retry policy.
No Airflow import: vendors and capabilities run (and are tested) in plain Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from airflow_provider_voice.connections import ConnectionType
from airflow_provider_voice.models.events import WebhookEndpoint
from airflow_provider_voice.transport import DEFAULT_TIMEOUT, RetryPolicy
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi, VendorClient

__all__ = ["ConnectionFields", "Vendor", "VendorAccess", "with_scheme"]

ApiT = TypeVar("ApiT", bound=VendorApi)


def with_scheme(url: str) -> str:
    """``url`` as given when it has a scheme, else ``https://`` + ``url`` (a connection's host field).

    :param url: a URL or a bare host (``api.example.com/v1``).
    """
    return url if "://" in url else f"https://{url}"


@dataclass(frozen=True)
class ConnectionFields:
    """An Airflow Connection as plain data (what a vendor needs to build its API).

    :param conn_id: the connection id (for error messages).
    :param conn_type: the connection type (``velip``, ``kaleyra``...).
    :param host: the connection's host (the Base URL field), if any.
    :param login: the login field, if any.
    :param password: the password field, if any (never shown by ``repr``).
    :param extra: the decoded ``extra`` JSON.
    """

    conn_id: str
    conn_type: str
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def extra_value(self, name: str) -> Any:
        """An extra field, stored plain (``name``) or prefixed (``extra__<type>__<name>``); ``""`` reads as None."""
        value = self.extra.get(name)
        if value in (None, ""):
            value = self.extra.get(f"extra__{self.conn_type}__{name}")
        return None if value == "" else value

    def base_urls(self) -> dict[str, str]:
        """``default`` base URL from the host (or the ``base_url`` extra) when set; ``https://`` when no scheme."""
        host = self.host or self.extra_value("base_url")
        return {"default": with_scheme(host)} if host else {}


class VendorAccess(Generic[ApiT]):
    """A vendor API with its clients, as capabilities use it.

    :param api: the vendor API (credentials, base URLs).
    :param conn_id: the connection it was built from (for messages and checkpoints), if any.
    :param settings: non-secret connection extras a capability reads (e.g. ``owned_numbers``).
    :param timeout: per-request timeout of every client made here.
    :param retry: retry policy of every client made here.
    """

    def __init__(
        self,
        api: ApiT,
        *,
        conn_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api = api
        self.conn_id = conn_id
        self.settings: Mapping[str, Any] = dict(settings or {})
        self.timeout = timeout
        self.retry = retry
        self._client: VendorClient[ApiT] | None = None

    def client(self) -> VendorClient[ApiT]:
        """The shared blocking client (made at first use; closed by :meth:`close`)."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def use_client(self, client: VendorClient[ApiT]) -> None:
        """Make ``client`` the shared blocking client (tests pass one on an ``httpx.MockTransport``).

        :param client: a client on this access's API.
        """
        self._client = client

    def new_client(self) -> VendorClient[ApiT]:
        """A new blocking client with its own connections (safe beside a busy shared one; close it after use)."""
        return VendorClient(self.api, timeout=self.timeout, retry=self.retry)

    def async_client(self) -> AsyncVendorClient[ApiT]:
        """A new asyncio client (one per event loop; close it with ``aclose``)."""
        return AsyncVendorClient(self.api, timeout=self.timeout, retry=self.retry)

    def close(self) -> None:
        """Close the shared blocking client, if one was made."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:  # never show credentials
        return f"VendorAccess({self.api!r}, conn_id={self.conn_id!r})"


@dataclass(frozen=True)
class Vendor(Generic[ApiT]):
    """A vendor as the provider registers it (``vendors/registry.py``): its connection form, how a
    connection becomes its API, and the harmless call that tests a connection.

    :param connection: the connection type (form fields, labels, hook class path).
    :param build_api: the API from a connection's fields (raises ``ValidationError`` for a missing field).
    :param probe: one harmless authenticated call; a short description of the account.
    :param integration: the vendor's name and web site, for the provider info.
    :param webhooks: the vendor's webhook routes (``vendors/<vendor>/events.py``), for the receiver.
    """

    connection: ConnectionType
    build_api: Callable[[ConnectionFields], ApiT]
    probe: Callable[[VendorAccess[ApiT]], str]
    integration: tuple[str, str]
    webhooks: tuple[WebhookEndpoint, ...] = ()

    def webhook(self, name: str) -> WebhookEndpoint | None:
        """The webhook route called ``name``, if the vendor has one."""
        return next((endpoint for endpoint in self.webhooks if endpoint.name == name), None)

    @property
    def name(self) -> str:
        """The connection type, which is also the vendor's name (``velip``...)."""
        return self.connection.conn_type

    def settings(self, fields: ConnectionFields) -> dict[str, Any]:
        """The connection extras capabilities may read: every extra but the secret ones, unprefixed."""
        prefix = f"extra__{self.name}__"
        out: dict[str, Any] = {}
        for key in fields.extra:
            name = key[len(prefix) :] if key.startswith(prefix) else key
            spec = self.connection.extra_fields.get(name)
            if spec is not None and spec.secret:
                continue
            value = fields.extra_value(name)
            if value is not None:
                out[name] = value
        return out
