"""The HTTP core: one table of behaviours, each run on the sync and the async client."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest

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


class Script:
    """Answers requests from a list of responses/exceptions, counting them."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


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
