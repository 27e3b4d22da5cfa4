"""One pooled HTTP client per connection and event loop in the triggerer: the registry (reference
counts, loops, closing), the connection key (changes with the connection, no secret in it), and
triggers sharing it against the simulator (same events, the pool closed when the last one ends)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from helpers import first_event, soon

from airflow_provider_voice.hooks.base import SharedAsyncVendorClient, VoiceHook, shared_client_key
from airflow_provider_voice.hooks.televoips import TeleVoipsHook
from airflow_provider_voice.transport import SHARED_ASYNC_CLIENTS, SharedAsyncClients
from airflow_provider_voice.triggers.cdr import CdrReportTrigger
from airflow_provider_voice.vendors.access import ConnectionFields


def test_one_client_per_key_and_loop_counted_and_closed_by_the_last_holder():
    registry = SharedAsyncClients(max_connections=4)

    async def main() -> None:
        first, second, other = registry.acquire("a"), registry.acquire("a"), registry.acquire("b")
        assert first.client is second.client and other.client is not first.client
        assert registry.holders("a") == 2 and registry.clients() == 2
        await first.release()
        await first.release()  # a second release does nothing
        assert registry.holders("a") == 1 and not second.client.is_closed
        await second.release()
        assert second.client.is_closed and registry.holders("a") == 0
        assert registry.acquire("a").client is not first.client  # a new client after the last release
        await other.release()

    asyncio.run(main())


def test_a_client_is_never_shared_across_event_loops():
    registry = SharedAsyncClients()
    leases = []

    async def take() -> None:
        leases.append(registry.acquire("k"))

    asyncio.run(take())  # this loop closes with its lease unreleased
    asyncio.run(take())
    assert leases[0].client is not leases[1].client
    assert registry.clients() == 1  # the closed loop's client was dropped at the next acquire
    with pytest.raises(RuntimeError, match="outside the event loop"):
        leases[1].check_loop()  # no loop running here

    async def use_elsewhere() -> None:
        leases[1].check_loop()

    with pytest.raises(RuntimeError, match="outside the event loop"):
        asyncio.run(use_elsewhere())
    with pytest.raises(RuntimeError):
        registry.acquire("k")  # only in a running loop


def test_the_shared_client_keeps_no_cookie():
    registry = SharedAsyncClients()

    async def main() -> None:
        import httpx

        lease = registry.acquire("k")
        lease.client.cookies.extract_cookies(
            httpx.Response(200, headers={"set-cookie": "session=abc"}, request=httpx.Request("GET", "https://x.test/"))
        )
        assert not lease.client.cookies
        await lease.release()

    asyncio.run(main())


def test_the_key_changes_with_the_connection_and_never_holds_a_secret():
    base = ConnectionFields(conn_id="c", conn_type="velip", host="https://a.test", password="s3cret-token")
    key = shared_client_key(base)
    assert key.startswith("c#") and "s3cret" not in key and "a.test" not in key
    assert shared_client_key(ConnectionFields(**{**base.__dict__})) == key
    for changed in ({"password": "other"}, {"host": "https://b.test"}, {"login": "x"}, {"extra": {"k": "v"}}):
        assert shared_client_key(ConnectionFields(**{**base.__dict__, **changed})) != key


async def test_triggers_of_one_connection_share_one_pool_and_close_it_at_the_end(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    rule = voice_connections.state.faults.set("televoips", "/reports/cdrs")  # no faults: counts requests
    hook = TeleVoipsHook("televoips_default")
    await hook.aget_access()
    key = hook._shared_client_key
    assert SHARED_ASYNC_CLIENTS.holders(key) == 0
    triggers = [CdrReportTrigger(conn_id="televoips_default", poll_interval=0.05, deadline=soon(30)) for _ in range(5)]
    tasks = [asyncio.create_task(first_event(t)) for t in triggers]
    while rule.requests < 10:
        await asyncio.sleep(0.02)
    assert SHARED_ASYNC_CLIENTS.holders(key) == 5  # five waits, one client
    voice_connections.state.configure(cdr_compile_seconds=0)
    events = await asyncio.gather(*tasks)
    assert all(e["status"] == "success" for e in events)
    for _ in range(50):  # the generators are closed by the loop's finalizer after their first event
        if SHARED_ASYNC_CLIENTS.holders(key) == 0:
            break
        await asyncio.sleep(0.02)
    assert SHARED_ASYNC_CLIENTS.holders(key) == 0


async def test_a_changed_connection_gets_a_new_client_and_errors_stay_typed(voice_connections, monkeypatch):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    waiting = CdrReportTrigger(conn_id="televoips_default", poll_interval=0.05, deadline=soon(30))
    task = asyncio.create_task(first_event(waiting))
    await asyncio.sleep(0.3)
    good = TeleVoipsHook("televoips_default")
    client = await good.aget_shared_client()
    assert isinstance(client, SharedAsyncVendorClient)
    conn = json.loads(os.environ["AIRFLOW_CONN_TELEVOIPS_DEFAULT"])
    conn["extra"]["reports_api_key"] = "rotated-wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_TELEVOIPS_DEFAULT", json.dumps(conn))
    changed = TeleVoipsHook("televoips_default")
    await changed.aget_access()
    assert changed._shared_client_key != good._shared_client_key
    assert SHARED_ASYNC_CLIENTS.holders(changed._shared_client_key) == 0  # nothing stale to reuse
    payload = await first_event(CdrReportTrigger(conn_id="televoips_default", poll_interval=0.05, deadline=soon(5)))
    assert payload["status"] == "error" and payload["error_kind"] == "auth"
    assert "rotated-wrong-key" not in json.dumps(payload)
    await client.aclose()
    voice_connections.state.configure(cdr_compile_seconds=0)
    assert (await task)["status"] == "success"  # the first wait kept its own (good) connection


def test_a_hook_whose_access_was_set_directly_gets_a_client_of_its_own():
    class Stub(VoiceHook):  # type: ignore[type-arg]
        pass

    hook = Stub.__new__(Stub)
    access = type("Access", (), {"async_client": lambda self: "own client", "api": None})()
    hook.__dict__["access"] = access
    assert asyncio.run(hook.aget_shared_client()) == "own client"


def test_a_blocking_client_that_never_sends_makes_no_http_client():
    """An Octopush status is read from a local store: its blocking client must cost no pool nor TLS context."""
    from airflow_provider_voice.transport import SyncHttp

    class Dialect:
        pass

    http = SyncHttp(Dialect())  # type: ignore[arg-type]
    assert http._http_client is None
    http.close()  # nothing to close
    assert http._client is http._client and http._http_client is not None
    http.close()
