"""Base of the vendor clients: an API object that *builds* calls, and sync/async clients that send them.

A vendor API (``VelipApi``, ``KaleyraApi``...) is plain Python: each public method marked with
:func:`endpoint` returns a :class:`~airflow_provider_voice.transport.Call` (one request) or a flow
(a generator of calls, for pagination and polling). It never does I/O, so it is tested without a
network and shared by both clients:

.. code-block:: python

    api = VelipApi(token="...")
    with VendorClient(api) as client:              # blocking
        user = client.get_user_id()
    async with AsyncVendorClient(api) as client:   # asyncio (triggers, fan-out)
        user = await client.get_user_id()
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from airflow_provider_voice.redaction import register_secret
from airflow_provider_voice.transport import DEFAULT_TIMEOUT, AsyncHttp, Dialect, ResponseLimits, RetryPolicy, SyncHttp

__all__ = ["AsyncVendorClient", "VendorApi", "VendorClient", "endpoint"]

F = TypeVar("F", bound=Callable[..., Any])
ApiT = TypeVar("ApiT", bound="VendorApi")


def endpoint(func: F) -> F:
    """Mark a :class:`VendorApi` method as a vendor endpoint (reachable from both clients)."""
    func.__voice_endpoint__ = True  # type: ignore[attr-defined]
    return func


class VendorApi(Dialect):
    """A vendor's API surface, without I/O: credentials, base URLs, request builders, parsers.

    :param base_urls: overrides of :attr:`default_base_urls` (the simulator and tests use this).
    """

    vendor: ClassVar[str] = "vendor"
    #: production base URLs from the vendor's spec, keyed like :attr:`Call.base`
    default_base_urls: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *, base_urls: Mapping[str, str] | None = None) -> None:
        urls = dict(self.default_base_urls)
        urls.update({k: v for k, v in (base_urls or {}).items() if v})
        self.base_urls = urls

    def _secret(self, value: str | None) -> str | None:
        """Record a credential with the secrets masker and return it."""
        register_secret(value)
        return value

    def __repr__(self) -> str:  # never show credentials
        return f"{type(self).__name__}(base_urls={self.base_urls!r})"

    @classmethod
    def endpoints(cls) -> list[str]:
        """Names of every endpoint method this API offers."""
        return sorted(
            name
            for name in dir(cls)
            if not name.startswith("_") and getattr(getattr(cls, name), "__voice_endpoint__", False)
        )


class _Endpoints(Generic[ApiT]):
    api: ApiT

    def __getattr__(self, name: str) -> Any:
        builder = getattr(self.api, name, None)
        if builder is None or not getattr(builder, "__voice_endpoint__", False):
            raise AttributeError(
                f"{type(self.api).__name__} has no endpoint {name!r}; endpoints: {', '.join(self.api.endpoints())}"
            )
        return self._bind(builder)

    def _bind(self, builder: Callable[..., Any]) -> Callable[..., Any]:  # pragma: no cover - overridden
        raise NotImplementedError


class VendorClient(_Endpoints[ApiT]):
    """Blocking client: ``client.<endpoint>(...)`` builds the call with the API and sends it.

    :param api: the vendor API (credentials, base URLs).
    :param timeout: per-request timeout (seconds or ``httpx.Timeout``).
    :param retry: retry policy (see :mod:`airflow_provider_voice.transport`).
    :param http_client: an ``httpx.Client`` to reuse (tests pass ``MockTransport`` ones).
    :param sleep: sleep function (tests pass a fake clock).
    :param limits: response size and call deadline bounds (see :class:`~airflow_provider_voice.transport.ResponseLimits`).
    """

    def __init__(
        self,
        api: ApiT,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.api = api
        self.http = SyncHttp(api, timeout=timeout, retry=retry, http_client=http_client, sleep=sleep, limits=limits)

    def _bind(self, builder: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.http.execute(builder(*args, **kwargs))

        call.__doc__ = builder.__doc__
        return call

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> VendorClient[ApiT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncVendorClient(_Endpoints[ApiT]):
    """Asyncio client: ``await client.<endpoint>(...)``. Same parameters as :class:`VendorClient`."""

    def __init__(
        self,
        api: ApiT,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.api = api
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = AsyncHttp(api, timeout=timeout, retry=retry, http_client=http_client, limits=limits, **kwargs)

    def _bind(self, builder: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self.http.execute(builder(*args, **kwargs))

        call.__doc__ = builder.__doc__
        return call

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncVendorClient[ApiT]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
