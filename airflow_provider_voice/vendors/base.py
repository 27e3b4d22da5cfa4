"""Base of the vendor clients: an API object that *builds* calls, and sync/async clients that send them.

A vendor API (``VelipApi``, ``KaleyraApi``...) is plain Python: each public method marked with
:func:`endpoint` returns a :class:`~airflow_provider_voice.transport.Call` (one request) or a flow
(a generator of calls, for pagination and polling). It never does I/O, so it is tested without a
network and shared by both clients.

There is one way to call a vendor: **build the request with the API, send it with the client**.
The client's methods are typed with the call's or flow's result type, so
``client.send(api.get_user_id())`` is a ``VelipUser`` to a type checker:

.. code-block:: python

    api = VelipApi(token="...")
    with VendorClient(api) as client:              # blocking
        user = client.send(api.get_user_id())      # one request -> its parsed result
        for row in client.iterate(api.call_status_flow(cp_id="5001")):  # a flow's emitted items
            ...
    async with AsyncVendorClient(api) as client:   # asyncio (triggers, fan-out)
        user = await client.send(api.get_user_id())

* :meth:`VendorClient.send` — one :class:`~airflow_provider_voice.transport.Call` -> its result;
* :meth:`VendorClient.run` — a flow (polling, chunked writes) -> its return value;
* :meth:`VendorClient.iterate` — a flow (pagination) -> the items it emits, one page at a time;
* :meth:`VendorClient.stream` — a download, as a context manager over the unread response.

Handing a flow to ``send`` (or a call to ``run``/``iterate``) is a ``TypeError`` raised before
anything is sent, naming the method to use.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from airflow_provider_voice.redaction import register_secret
from airflow_provider_voice.transport import (
    DEFAULT_TIMEOUT,
    AsyncHttp,
    Call,
    Dialect,
    Flow,
    PagedFlow,
    ResponseLimits,
    RetryPolicy,
    SyncHttp,
    T,
)

__all__ = ["AsyncVendorClient", "VendorApi", "VendorClient", "endpoint"]

F = TypeVar("F", bound=Callable[..., Any])
#: a client's API (covariant: a ``VendorClient[VelipApi]`` is a ``VendorClient[VendorApi]``, a client of any vendor)
ApiT_co = TypeVar("ApiT_co", bound="VendorApi", covariant=True)
#: the type of the items a flow emits (``client.iterate`` yields them)
ItemT = TypeVar("ItemT")


def endpoint(func: F) -> F:
    """Mark a :class:`VendorApi` method as a vendor endpoint (reachable from both clients)."""
    # a function object takes any attribute; the checker only knows the ones its type declares
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


def _what(value: object) -> str:
    """How a wrong argument reads in an error message (its type, never its content: it may hold secrets)."""
    if callable(value) and not isinstance(value, Call):
        return f"the function {getattr(value, '__qualname__', type(value).__name__)} itself (call it first)"
    return f"a {type(value).__name__}"


def _check_call(method: str, call: object) -> None:
    """Raise ``TypeError`` unless ``call`` is one :class:`~airflow_provider_voice.transport.Call`.

    :param method: the client method given it (``send``, ``stream``).
    :param call: what it was given.
    """
    if isinstance(call, Call):
        return
    hint = " (a flow: use client.run(...) for its result or client.iterate(...) for its items)"
    raise TypeError(
        f"client.{method}() takes one Call built by the API, e.g. client.{method}(api.get_user_id()); "
        f"got {_what(call)}{hint if inspect.isgenerator(call) else ''}"
    )


def _check_flow(method: str, flow: object) -> None:
    """Raise ``TypeError`` unless ``flow`` is a flow (a generator of flow steps) not yet started.

    :param method: the client method given it (``run``, ``iterate``).
    :param flow: what it was given.
    """
    if inspect.isgenerator(flow):
        if inspect.getgeneratorstate(flow) != inspect.GEN_CREATED:
            raise TypeError(f"client.{method}() takes a fresh flow; this one was already started or finished")
        return
    hint = " (one call: use client.send(...))" if isinstance(flow, Call) else ""
    raise TypeError(f"client.{method}() takes a flow built by the API (a generator of calls); got {_what(flow)}{hint}")


class VendorClient(Generic[ApiT_co]):
    """Blocking client: sends what the API builds, ``client.send(client.api.get_user_id())``.

    :param api: the vendor API (credentials, base URLs).
    :param timeout: per-request timeout (seconds or ``httpx.Timeout``).
    :param retry: retry policy (see :mod:`airflow_provider_voice.transport`).
    :param http_client: an ``httpx.Client`` to reuse (tests pass ``MockTransport`` ones).
    :param sleep: sleep function (tests pass a fake clock).
    :param limits: response size and call deadline bounds (see :class:`~airflow_provider_voice.transport.ResponseLimits`).
    """

    def __init__(
        self,
        api: ApiT_co,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.api = api
        self._http = SyncHttp(api, timeout=timeout, retry=retry, http_client=http_client, sleep=sleep, limits=limits)

    def send(self, call: Call[T]) -> T:
        """Send one call (retry policy and limits applied) and return its parsed result.

        :param call: the call, built by the API (``api.get_user_id()``).
        :returns: what the call's parser returns (``Call[VelipUser]`` -> ``VelipUser``).
        :raises TypeError: ``call`` is not a :class:`~airflow_provider_voice.transport.Call` (e.g. a flow).
        """
        _check_call("send", call)
        return self._http.send(call)

    def run(self, flow: Flow[T]) -> T:
        """Drive a flow (polling, chunked writes) to its end and return its return value.

        :param flow: the flow, built by the API (``api.wait_for_cdr_report()``).
        :returns: the flow's return value; the items it emits are dropped.
        :raises TypeError: ``flow`` is not a fresh flow (e.g. a single call).
        """
        _check_flow("run", flow)
        return self._http.run(flow)

    def iterate(self, flow: PagedFlow[ItemT, Any]) -> Iterator[ItemT]:
        """Drive a flow, yielding every item it emits (pagination: one page in memory at a time).

        :param flow: the flow, built by the API (``api.dial_flow(...)``).
        :returns: an iterator over the emitted items.
        :raises TypeError: ``flow`` is not a fresh flow (raised here, before anything is sent).
        """
        _check_flow("iterate", flow)
        return self._http.iterate(flow)

    def stream(self, call: Call[object]) -> AbstractContextManager[httpx.Response]:
        """Open a download: a context manager yielding the response after a 2xx status, its body unread.

        :param call: the download call, built by the API (``api.cdr_file_call(report)``).
        :returns: a context manager over the streamed ``httpx.Response`` (closed on exit).
        :raises TypeError: ``call`` is not a :class:`~airflow_provider_voice.transport.Call`.
        """
        _check_call("stream", call)
        return self._http.stream(call)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> VendorClient[ApiT_co]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncVendorClient(Generic[ApiT_co]):
    """Asyncio client: ``await client.send(client.api.get_user_id())``. Same parameters as :class:`VendorClient`.

    :param api: the vendor API (credentials, base URLs).
    :param timeout: per-request timeout (seconds or ``httpx.Timeout``).
    :param retry: retry policy (see :mod:`airflow_provider_voice.transport`).
    :param http_client: an ``httpx.AsyncClient`` to reuse (tests pass ``MockTransport`` ones).
    :param sleep: async sleep function (tests pass a fake clock); None: ``asyncio.sleep``.
    :param limits: response size and call deadline bounds (see :class:`~airflow_provider_voice.transport.ResponseLimits`).
    """

    def __init__(
        self,
        api: ApiT_co,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.api = api
        if sleep is None:
            self._http = AsyncHttp(api, timeout=timeout, retry=retry, http_client=http_client, limits=limits)
        else:
            self._http = AsyncHttp(
                api, timeout=timeout, retry=retry, http_client=http_client, limits=limits, sleep=sleep
            )

    async def send(self, call: Call[T]) -> T:
        """Send one call and return its parsed result (async twin of :meth:`VendorClient.send`).

        :param call: the call, built by the API.
        :returns: what the call's parser returns.
        :raises TypeError: ``call`` is not a :class:`~airflow_provider_voice.transport.Call`.
        """
        _check_call("send", call)
        return await self._http.send(call)

    async def run(self, flow: Flow[T]) -> T:
        """Drive a flow to its end and return its return value (async twin of :meth:`VendorClient.run`).

        :param flow: the flow, built by the API.
        :returns: the flow's return value.
        :raises TypeError: ``flow`` is not a fresh flow.
        """
        _check_flow("run", flow)
        return await self._http.run(flow)

    def iterate(self, flow: PagedFlow[ItemT, Any]) -> AsyncIterator[ItemT]:
        """Drive a flow, yielding every item it emits: ``async for row in client.iterate(flow)``.

        :param flow: the flow, built by the API.
        :returns: an async iterator over the emitted items.
        :raises TypeError: ``flow`` is not a fresh flow (raised here, before anything is sent).
        """
        _check_flow("iterate", flow)
        return self._http.iterate(flow)

    def stream(self, call: Call[object]) -> AbstractAsyncContextManager[httpx.Response]:
        """Open a download: ``async with client.stream(call) as response`` (body unread).

        :param call: the download call, built by the API.
        :returns: an async context manager over the streamed ``httpx.Response``.
        :raises TypeError: ``call`` is not a :class:`~airflow_provider_voice.transport.Call`.
        """
        _check_call("stream", call)
        return self._http.stream(call)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVendorClient[ApiT_co]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
