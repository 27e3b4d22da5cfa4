"""The HTTP core: one table of behaviours, each run on the sync and the async client."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest
from helpers import Script

from airflow_provider_voice.errors import (
    AuthError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    VendorRejectedError,
)
from airflow_provider_voice.transport import (
    USER_AGENT,
    Call,
    Dialect,
    Emit,
    RetryPolicy,
    Sleep,
    json_body,
    parse_retry_after,
)


class DemoDialect(Dialect):
    vendor = "demo"
    base_urls = {"default": "https://demo.invalid/api"}

    def auth_headers(self, call: Call[Any]) -> dict[str, str]:
        return {"x-api-key": "demo-secret-key-123"}


def get_call(**kw: Any) -> Call[Any]:
    return Call(
        endpoint="thing",
        method="GET",
        path="/thing",
        parse=lambda r: json_body(r, vendor="demo", endpoint="thing"),
        **kw,
    )


def post_call(**kw: Any) -> Call[Any]:
    return Call(endpoint="send", method="POST", path="/send", json={"a": 1}, parse=lambda r: r.json(), **kw)


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


def test_success_builds_request_with_auth_and_user_agent(make_driver):
    script = Script(ok({"v": 1}))
    assert make_driver(DemoDialect(), script).send(get_call(params={"a": 1, "skip": None, "flag": True})) == {"v": 1}
    request = script.requests[0]
    assert str(request.url) == "https://demo.invalid/api/thing?a=1&flag=1"
    assert request.headers["x-api-key"] == "demo-secret-key-123"
    assert request.headers["user-agent"] == USER_AGENT


def test_429_retry_after_seconds_is_honoured(make_driver):
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    driver = make_driver(DemoDialect(), script)
    assert driver.send(post_call()) == {"ok": True}
    assert len(script.requests) == 2
    assert driver.clock.sleeps == [7.0]


def test_429_retry_after_http_date_is_honoured(make_driver):
    when = email.utils.format_datetime(email.utils.localtime().fromtimestamp(time.time() + 30), usegmt=False)
    script = Script(httpx.Response(429, headers={"Retry-After": when}), ok())
    driver = make_driver(DemoDialect(), script)
    driver.send(get_call())
    assert len(driver.clock.sleeps) == 1 and 25 <= driver.clock.sleeps[0] <= 31


def test_retry_after_beyond_cap_is_raised_not_slept(make_driver):
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    driver = make_driver(DemoDialect(), script, RetryPolicy(max_attempts=4, max_retry_after=60))
    with pytest.raises(RateLimitedError) as info:
        driver.send(get_call())
    assert info.value.retry_after == 3600 and driver.clock.sleeps == [] and len(script.requests) == 1


def test_429_exhausted_raises_rate_limited(make_driver):
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}))
    driver = make_driver(DemoDialect(), script)
    with pytest.raises(RateLimitedError):
        driver.send(post_call())
    assert len(script.requests) == 4 and driver.clock.sleeps == [1.0, 1.0, 1.0]


def test_get_503_is_retried_then_typed_error(make_driver):
    script = Script(httpx.Response(503, text="busy"))
    driver = make_driver(DemoDialect(), script)
    with pytest.raises(ServerError) as info:
        driver.send(get_call())
    assert info.value.status_code == 503
    assert len(script.requests) == 4 and len(driver.clock.sleeps) == 3
    assert all(0 < s <= 30 for s in driver.clock.sleeps)


def test_get_503_then_success(make_driver):
    script = Script(httpx.Response(503), httpx.Response(502), ok({"v": 2}))
    assert make_driver(DemoDialect(), script).send(get_call()) == {"v": 2}
    assert len(script.requests) == 3


def test_post_503_is_not_retried(make_driver):
    script = Script(httpx.Response(503))
    with pytest.raises(ServerError):
        make_driver(DemoDialect(), script).send(post_call())
    assert len(script.requests) == 1


def test_post_timeout_after_accept_is_not_retried(make_driver):
    script = Script(httpx.ReadTimeout("slow"), ok())
    driver = make_driver(DemoDialect(), script)
    with pytest.raises(RequestTimeoutError) as info:
        driver.send(post_call())
    assert info.value.may_have_been_accepted is True
    assert len(script.requests) == 1 and driver.clock.sleeps == []


def test_post_connection_reset_after_send_is_not_retried(make_driver):
    script = Script(httpx.RemoteProtocolError("Server disconnected without sending a response."), ok())
    with pytest.raises(TransportError) as info:
        make_driver(DemoDialect(), script).send(post_call())
    assert info.value.may_have_been_accepted is True and len(script.requests) == 1


def test_idempotent_post_is_retried_after_timeout(make_driver):
    script = Script(httpx.ReadTimeout("slow"), ok({"ticket": "t1"}))
    assert make_driver(DemoDialect(), script).send(post_call(idempotent=True)) == {"ticket": "t1"}
    assert len(script.requests) == 2


def test_connect_error_is_retried_even_for_post(make_driver):
    script = Script(httpx.ConnectError("refused"), ok())
    driver = make_driver(DemoDialect(), script)
    assert driver.send(post_call()) == {"ok": True}
    assert len(script.requests) == 2


def test_connect_error_exhausted_says_not_accepted(make_driver):
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        make_driver(DemoDialect(), script).send(post_call())
    assert info.value.may_have_been_accepted is False and len(script.requests) == 4


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_is_never_retried(make_driver, status):
    script = Script(httpx.Response(status, json={"message": "Unauthorized"}))
    driver = make_driver(DemoDialect(), script)
    with pytest.raises(AuthError) as info:
        driver.send(get_call())
    assert info.value.status_code == status and "Unauthorized" in str(info.value)
    assert len(script.requests) == 1 and driver.clock.sleeps == []


def test_4xx_is_vendor_rejection_with_code(make_driver):
    script = Script(httpx.Response(400, json={"code": 400, "message": "Payload validation error."}))
    with pytest.raises(VendorRejectedError) as info:
        make_driver(DemoDialect(), script).send(post_call())
    assert info.value.vendor_code == "400" and info.value.vendor_message == "Payload validation error."
    assert len(script.requests) == 1


def test_malformed_body_is_typed(make_driver):
    script = Script(httpx.Response(200, text="<html>oops"))
    with pytest.raises(MalformedResponseError):
        make_driver(DemoDialect(), script).send(get_call())


def test_flow_runs_calls_sleeps_and_returns(make_driver):
    script = Script(ok({"page": 1}), ok({"page": 2}))

    def flow():
        first = yield get_call()
        yield Sleep(3)
        second = yield get_call()
        yield Emit([first, second])
        return [first["page"], second["page"]]

    driver = make_driver(DemoDialect(), script)
    assert driver.send(flow()) == [1, 2]
    assert driver.clock.sleeps == [3]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), ("1.5", 1.5), (None, None), ("", None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(120, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 50, usegmt=True), now=now) == 0.0


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(backoff_initial=1, backoff_max=8)
    waits = [policy.wait_seconds(ServerError("x", status_code=503), n) for n in range(1, 8)]
    assert all(0.5 <= w <= 8 for w in waits)
    assert max(waits[4:]) <= 8 and min(waits[4:]) >= 4


# -- limits: size caps, deadlines, defensive parsing (sync/async twins) ------------------------------
class SlowStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body of ``chunks`` pieces, one every ``interval`` seconds (a server dripping bytes)."""

    def __init__(self, chunks: int, interval: float, piece: bytes = b" ") -> None:
        self.chunks, self.interval, self.piece = chunks, interval, piece

    def __iter__(self):
        for _ in range(self.chunks):
            time.sleep(self.interval)
            yield self.piece

    async def __aiter__(self):
        import asyncio

        for _ in range(self.chunks):
            await asyncio.sleep(self.interval)
            yield self.piece


def gzip_of_zeros(mib: int) -> bytes:
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(mib)) + compressor.flush()


def streamed(status: int, data: bytes, **headers: str) -> httpx.Response:
    """An answer whose body is not read yet (as from a socket)."""
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(data))


def test_body_over_the_cap_is_malformed_not_read_whole(make_driver):
    script = Script(streamed(200, b"[" + b"0," * 600_000 + b"0]"))
    with pytest.raises(MalformedResponseError, match="response over 100000 bytes") as info:
        make_driver(DemoDialect(), script).send(get_call(max_response_bytes=100_000))
    assert info.value.status_code == 200 and len(script.requests) == 1  # not retried


def test_gzip_bomb_is_stopped_at_the_decoded_cap(make_driver):
    bomb = gzip_of_zeros(64)  # 64 MiB once inflated, 64 KiB on the wire
    assert len(bomb) < 100_000
    script = Script(streamed(200, bomb, **{"content-encoding": "gzip"}))
    with pytest.raises(MalformedResponseError, match="response over 1000000 bytes"):
        make_driver(DemoDialect(), script).send(get_call(max_response_bytes=1_000_000))


def test_gzip_body_within_the_cap_is_decoded(make_driver):
    import gzip

    body = gzip.compress(b'{"v": "' + b"x" * 5000 + b'"}')
    script = Script(streamed(200, body, **{"content-encoding": "gzip"}))
    assert make_driver(DemoDialect(), script).send(get_call(max_response_bytes=10_000)) == {"v": "x" * 5000}


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x1b\x03\x00"), ("gzip", b"not gzip at all")])
def test_unreadable_content_encoding_is_malformed(make_driver, encoding, body):
    script = Script(streamed(200, body, **{"content-encoding": encoding}))
    with pytest.raises(MalformedResponseError):
        make_driver(DemoDialect(), script).send(get_call())


def test_a_big_error_body_is_cut_and_the_status_decides(make_driver):
    script = Script(streamed(503, b"x" * 2_000_000), streamed(503, b"x" * 2_000_000))
    driver = make_driver(DemoDialect(), script, RetryPolicy(max_attempts=2))
    with pytest.raises(ServerError):
        driver.send(get_call(max_response_bytes=100_000))
    assert len(script.requests) == 2


def test_retries_stop_before_the_deadline(make_driver):
    script = Script(httpx.Response(503))
    driver = make_driver(DemoDialect(), script, RetryPolicy(max_attempts=50, backoff_initial=1, backoff_max=1))
    with pytest.raises(ServerError):
        driver.send(get_call(deadline=3.0))
    assert sum(driver.clock.sleeps) <= 3.0 and 2 <= len(script.requests) <= 7


def test_a_retry_after_past_the_deadline_is_not_slept(make_driver):
    script = Script(httpx.Response(429, headers={"Retry-After": "10"}), ok())
    driver = make_driver(DemoDialect(), script, RetryPolicy(max_attempts=4, max_retry_after=60))
    with pytest.raises(RateLimitedError) as info:
        driver.send(get_call(deadline=5.0))
    assert info.value.retry_after == 10 and driver.clock.sleeps == [] and len(script.requests) == 1


@pytest.mark.parametrize("call", [post_call, get_call], ids=["post", "get"])
def test_a_dripping_body_ends_at_the_deadline_without_retry(make_driver, call):
    script = Script(httpx.Response(200, stream=SlowStream(chunks=40, interval=0.02)))
    driver = make_driver(DemoDialect(), script)
    with pytest.raises(RequestTimeoutError, match=r"deadline of 0\.15 s") as info:
        driver.send(call(deadline=0.15))
    assert info.value.may_have_been_accepted is True
    assert len(script.requests) == 1 and driver.clock.sleeps == []


def test_default_deadline_is_three_read_timeouts_plus_the_longest_retry_after():
    from airflow_provider_voice.transport import HttpCore, ResponseLimits

    core = HttpCore(DemoDialect())
    assert core.deadline_for(get_call()) == 3 * 30 + 120
    assert core.deadline_for(get_call(deadline=7)) == 7
    assert HttpCore(DemoDialect(), limits=ResponseLimits(deadline=9)).deadline_for(get_call()) == 9
    assert HttpCore(DemoDialect(), timeout=5).deadline_for(get_call()) == 15 + 120


def _bad_parser(kind: str):
    import pydantic

    class Model(pydantic.BaseModel):
        ticket: str

    def parse(response: httpx.Response) -> Any:
        payload = json_body(response, vendor="demo", endpoint="thing")
        if kind == "pydantic":
            return Model.model_validate(payload)
        if kind == "key":
            return payload["missing"]
        if kind == "type":
            return payload["v"] + 1
        if kind == "index":
            return payload["items"][3]
        raise RecursionError("maximum recursion depth exceeded")

    return parse


@pytest.mark.parametrize("kind", ["pydantic", "key", "type", "index", "recursion"])
def test_any_parser_failure_is_a_malformed_response_with_status_and_excerpt(make_driver, kind):
    script = Script(httpx.Response(200, json={"ticket": 5, "v": "x", "items": [], "x-api-key": "demo-secret-key-123"}))
    call = Call(endpoint="thing", method="GET", path="/thing", parse=_bad_parser(kind))
    with pytest.raises(MalformedResponseError) as info:
        make_driver(DemoDialect(), script).send(call)
    exc = info.value
    assert exc.status_code == 200 and exc.endpoint == "thing" and exc.excerpt
    assert "errors.pydantic.dev" not in str(exc) and "demo-secret-key-123" not in str(exc)
    if kind == "pydantic":
        assert "field 'ticket'" in str(exc)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 70 + b"1" + b"}" * 70])
def test_deeply_nested_json_is_malformed(make_driver, body):
    script = Script(httpx.Response(200, content=body))
    with pytest.raises(MalformedResponseError, match="nested deeper than 64"):
        make_driver(DemoDialect(), script).send(get_call())


def test_a_flow_that_cannot_follow_an_answer_raises_malformed(make_driver):
    script = Script(ok({"next": {"weird": True}}))

    def flow():
        page = yield get_call()
        return page["next"] + 1  # the answer's shape breaks the flow's own logic

    with pytest.raises(MalformedResponseError, match="could not be followed"):
        make_driver(DemoDialect(), script).send(flow())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_dripping_download_stalls_out(kind):
    import asyncio

    from airflow_provider_voice.transport import AsyncHttp, SyncHttp

    handler = Script(httpx.Response(200, stream=SlowStream(chunks=30, interval=0.02)))
    call = Call(endpoint="file", method="GET", path="/file.csv", parse=lambda r: r, timeout=0.1)
    if kind == "sync":
        http = SyncHttp(DemoDialect(), http_client=httpx.Client(transport=httpx.MockTransport(handler)))
        with pytest.raises(RequestTimeoutError, match="download stalled"):
            with http.stream(call) as response:
                for _ in response.iter_bytes():
                    pass
        return

    async def run() -> None:
        http = AsyncHttp(DemoDialect(), http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        async with http.stream(call) as response:
            async for _ in response.aiter_bytes():
                pass

    with pytest.raises(RequestTimeoutError, match="download stalled"):
        asyncio.run(run())


def test_async_pools_assign_requests_in_one_scan_and_still_bound_the_connections(simulator):
    """The asyncio client's pool uses the linear-time assignment (httpcore's is quadratic in the pool
    size): 48 requests at once over 8 connections all succeed, on at most 8 connections."""
    import asyncio

    from airflow_provider_voice.transport import _assign_requests_in_one_scan, new_async_client

    async def main() -> tuple[list[int], int]:
        client = new_async_client(max_connections=8)
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._assign_requests_to_connections.__func__ is _assign_requests_in_one_scan
        try:
            answers = await asyncio.gather(*(client.get(simulator.url + "/_sim/config") for _ in range(48)))
            return [a.status_code for a in answers], len(pool.connections)
        finally:
            await client.aclose()

    statuses, connections = asyncio.run(main())
    assert statuses == [200] * 48
    assert 1 <= connections <= 8
