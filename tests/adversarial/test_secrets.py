"""Secrets never reach logs, XCom or exceptions; the phone masker masks phone numbers and nothing else.

* the Velip ``tsid`` (a token *returned* by ``GetUserID``) is registered with the masker and hidden
  from repr/str/model_dump, so a task that logs or returns the user leaks nothing;
* a vendor that echoes the request's credentials in an error body: the key is absent from every
  attribute of the raised error (walked recursively), not only from ``str(exc)``;
* credential-looking ``name=value`` pairs are redacted in every written form;
* :func:`mask_phones` leaves dates, times, timestamps, IPs, paths, UUIDs, versions and byte counts
  readable and masks E.164 and national phone numbers.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_voice.errors import (
    AuthError,
    MalformedResponseError,
    ServerError,
    ValidationError,
    VendorRejectedError,
    VoiceProviderError,
)
from airflow_provider_voice.redaction import get_logger, is_secret_name, mask_phones, redact, redact_value
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.vendors.base import VendorApi, VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.velip import VelipApi, VelipUser


# -- helpers ------------------------------------------------------------------------------------
def _texts(value: Any, seen: set[int] | None = None, depth: int = 0) -> Iterator[str]:
    """Every string reachable from ``value``: attributes, items, keys, args, causes, str and repr."""
    seen = set() if seen is None else seen
    if depth > 12 or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes, bytearray)):
        yield value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
        return
    if value is None or isinstance(value, (int, float, bool)):
        return
    yield repr(value)
    yield str(value)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, seen, depth + 1)
            yield from _texts(item, seen, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _texts(item, seen, depth + 1)
        return
    if isinstance(value, BaseException):
        yield from _texts(value.args, seen, depth + 1)
        yield from _texts(value.__cause__, seen, depth + 1)
        yield from _texts(value.__context__, seen, depth + 1)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        yield from _texts(attributes, seen, depth + 1)


def assert_nowhere(secret: str, *values: Any) -> None:
    """``secret`` (and its URL-encoded form) appears in no string reachable from ``values``."""
    forms = {secret, urllib.parse.quote(secret, safe="")}
    for value in values:
        for text in _texts(value):
            leaked = [form for form in forms if form in text]
            assert not leaked, f"secret found in {text[:300]!r}"


def _client(api: VendorApi, handler: Callable[[httpx.Request], httpx.Response]) -> VendorClient[Any]:
    return VendorClient(
        api,
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda seconds: None,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


# -- the Velip tsid ---------------------------------------------------------------------------------
def test_velip_tsid_is_registered_and_hidden_from_the_model(simulator, caplog):
    caplog.set_level(logging.DEBUG)
    api = VelipApi(token=simulator.state.config.velip_token, base_urls={"default": simulator.base_url("velip")})
    with VendorClient(api) as client:
        user = client.send(api.get_user_id())
    tsid = user.tsid.get_secret_value()
    assert len(tsid) == 32 and user.cdcs_id == "1001"
    # the model holds the secret (get_secret_value); every rendering of it hides it
    assert_nowhere(tsid, repr(user), str(user), f"{user}", user.model_dump(), user.model_dump_json(), repr(user.tsid))
    assert user.model_dump()["tsid"] == "***"
    logger = get_logger("airflow_provider_voice.tests.secrets")
    logger.info("user %s", user)
    logger.info("raw tsid=%s and %r and %s", tsid, tsid, f"VelipUser(tsid={tsid!r})")
    logger.info('{"tsid": "%s"}', tsid)
    assert_nowhere(tsid, caplog.text, [r.getMessage() for r in caplog.records])
    from airflow.sdk.log import _secrets_masker

    assert tsid not in _secrets_masker().redact(f"token {tsid} in a task log")
    assert tsid not in redact(f"free text {tsid}")


def test_velip_tsid_absent_from_logs_and_xcom_of_a_dag_run(voice_connections, run_dag, caplog):
    """A task fetching the tsid, logging and returning the user, then a provider operator on Velip."""
    caplog.set_level(logging.DEBUG)
    from airflow.models.xcom import XComModel
    from airflow.sdk import DAG, task
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_voice.hooks.velip import VelipHook
    from airflow_provider_voice.operators.sms import SendSMSOperator

    seen: dict[str, str] = {}

    with DAG("adversarial_velip_tsid", schedule=None, catchup=False) as dag:

        @task
        def fetch_user() -> dict[str, Any]:
            hook = VelipHook("velip_default")
            user = hook.client.send(hook.api.get_user_id())
            seen["tsid"] = user.tsid.get_secret_value()
            logging.getLogger("airflow.task").info("got %s / %r", user, user)
            get_logger("airflow_provider_voice.tests.secrets").info("tsid=%s", seen["tsid"])
            return {"user": user.model_dump(), "json": user.model_dump_json(), "repr": repr(user)}

        @task
        def fetch_model() -> VelipUser:
            hook = VelipHook("velip_default")
            return hook.client.send(hook.api.get_user_id())

        sms = SendSMSOperator(
            task_id="sms",
            conn_id="velip_default",
            recipients=["5511987654301"],
            text="hello",
            progress_interval=60,
        )
        fetch_user() >> fetch_model() >> sms

    run = run_dag(dag)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"fetch_user": "success", "fetch_model": "success", "sms": "success"}, states
    with create_session() as session:
        rows = session.execute(select(XComModel.task_id, XComModel.key, XComModel.value).where(
            XComModel.run_id == run.run_id, XComModel.dag_id == dag.dag_id
        )).all()  # fmt: skip
    assert {task_id for task_id, _, _ in rows} >= {"fetch_user", "fetch_model", "sms"}
    tsids = set(voice_connections.state.velip.tsids)
    assert seen["tsid"] in tsids and len(tsids) == 2  # both tasks got a real tsid
    values = [XComModel.deserialize_value(type("X", (), {"value": value})) for _, _, value in rows]
    for tsid in tsids:
        assert_nowhere(tsid, [json.dumps(value) for _, _, value in rows], values, caplog.text)


# -- vendors echoing credentials in error bodies ------------------------------------------------
KEY = "Sup3r-Secret-Key_0123456789abcdef"
LOGIN = "secret-login@example.invalid"

APIS: dict[str, Callable[[], VendorApi]] = {
    "kaleyra": lambda: KaleyraApi(api_key=KEY, base_urls={"default": "https://kaleyra.invalid/v1/"}),
    "velip": lambda: VelipApi(token=KEY, base_urls={"default": "https://velip.invalid"}),
    "octopush": lambda: OctopushApi(api_login=LOGIN, api_key=KEY, base_urls={"default": "https://octopush.invalid"}),
    "televoips-messaging": lambda: TeleVoipsApi(messaging_key=KEY, base_urls={"default": "https://tv.invalid"}),
    "televoips-reports": lambda: TeleVoipsApi(reports_key=KEY, base_urls={"default": "https://tv.invalid"}),
}
CALLS: dict[str, Callable[[VendorClient[Any]], Any]] = {
    "kaleyra": lambda c: c.send(c.api.monitor()),
    "velip": lambda c: c.send(c.api.get_user_id()),
    "octopush": lambda c: c.send(c.api.check_balance()),
    "televoips-messaging": lambda c: c.send(c.api.list_messages()),
    "televoips-reports": lambda c: c.send(c.api.request_cdr_report()),
}


def _echo_headers(request: httpx.Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in ("host", "accept-encoding", "connection")}


BODIES: dict[str, Callable[[httpx.Request], dict[str, Any]]] = {
    # a JSON object with the request headers, a message quoting them, Velip/Kaleyra/Octopush shapes
    "json-headers": lambda r: {"message": "bad request", "code": "E400", "headers": _echo_headers(r)},
    "message-text": lambda r: {"message": f"rejected: {dict(r.headers)!r} / {r.headers.get('authorization')}"},
    "velip-return": lambda r: {
        "return": {
            "status": f"Invalid token {r.headers.get('authorization')}",
            "status_code": "250",
            "echo": _echo_headers(r),
        }
    },
    "kaleyra-status": lambda r: {
        "status": "E542",
        "message": f"x-api-key={r.headers.get('x-api-key')}",
        "data": _echo_headers(r),
    },
    "octopush-errors": lambda r: {
        "code": 442,
        "message": "invalid",
        "errors": {"api-key": {"code": 1, "message": f"{r.headers.get('api-key')} {r.headers.get('api-login')}"}},
    },
}


@pytest.mark.parametrize("status", [200, 400, 401, 403, 422, 500])
@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("vendor", sorted(APIS))
def test_echoed_credentials_absent_from_every_attribute_of_the_error(vendor, body, status, caplog):
    caplog.set_level(logging.DEBUG)
    api = APIS[vendor]()

    def handler(request: httpx.Request) -> httpx.Response:
        assert KEY in request.headers.values() or f"Bearer {KEY}" in request.headers.values()
        return httpx.Response(status, json=BODIES[body](request))

    client = _client(api, handler)
    try:
        result = CALLS[vendor](client)
    except VoiceProviderError as exc:
        error: BaseException | None = exc
        result = None
    else:
        error = None
    if status >= 400:
        assert error is not None, f"{vendor} {status} was taken as a success: {result!r}"
        expected = {401: AuthError, 403: AuthError, 500: ServerError}.get(status, VendorRejectedError)
        assert isinstance(error, expected), error
    assert_nowhere(KEY, error, result, caplog.text, repr(api))  # the API object itself holds the key
    assert_nowhere(LOGIN, error, caplog.text)


@pytest.mark.parametrize(
    "error",
    [
        lambda: VendorRejectedError(
            f"x-api-key: {KEY}",
            vendor_code=f"tsid={KEY}",
            vendor_message=f'{{"api_key": "{KEY}"}}',
            field_errors={"x": {"message": f"Authorization: Bearer {KEY}", "echo": {"x-api-key": "unregistered-1234"}}},
            payload={
                "headers": [("x-api-key", "unregistered-1234")],
                "tsid": "unregistered-1234",
                "text": KEY.encode(),
            },
        ),
        lambda: AuthError(f"token='{KEY}'", vendor_code=f"password={KEY}"),
        lambda: ValidationError("api_key", KEY, f"tsid={KEY} is not allowed"),
        lambda: MalformedResponseError(f"body {{'tsid': '{KEY}'}} https://user:{KEY}@host/"),
    ],
)
def test_error_constructors_redact_every_stored_field(error):
    from airflow_provider_voice.redaction import register_secret

    register_secret(KEY)
    exc = error()
    assert_nowhere(KEY, exc)
    assert_nowhere("unregistered-1234", exc)


def test_redact_value_keeps_clean_values_identical():
    clean = {"calls": [{"dest": "5511987654321", "status": "OK"}], "n": 3}
    assert redact_value(clean) is clean
    assert redact_value({"tsid": "abc123xyz"}) == {"tsid": "***"}
    assert redact_value({"tsid_expires": "2026-12-01 10:00:00"}) == {"tsid_expires": "2026-12-01 10:00:00"}


# -- credential pairs in every written form --------------------------------------------------------
@pytest.mark.parametrize("name", ["tsid", "token", "api_key", "api-key", "x-api-key", "apikey", "Authorization",
                                  "messaging_api_key", "reports_api_key", "password", "client_secret", "X-Auth-Token"])  # fmt: skip
@pytest.mark.parametrize(
    "form",
    ["{n}='{v}'", '{n}="{v}"', "{n}: {v}", '"{n}": "{v}"', "{n}={v}", "'{n}': '{v}'", "{n}={v}&next=1",
     '{{\\"{n}\\": \\"{v}\\"}}', "('{n}', '{v}')", "{n} => '{v}'", "{n}: Bearer {v}"],
)  # fmt: skip
def test_unregistered_credential_pairs_are_redacted(name, form):
    value = "q7Zr0-unregistered.value"
    text = "before " + form.format(n=name, v=value) + " after"
    cleaned = redact(text)
    assert value not in cleaned and "***" in cleaned
    assert cleaned.startswith("before ") and cleaned.endswith(" after")
    assert is_secret_name(name)


@pytest.mark.parametrize("text", ["tsid_expires='2026-12-01 10:00:00'", "the tsid it returns", "tokens: 5",
                                  "Session ID is not valid", "page_size=100", "keyword=value"])  # fmt: skip
def test_ordinary_text_near_credential_words_is_kept(text):
    assert redact(text) == text


# -- phone numbers: masked when they are phone numbers, and only then ------------------------------
READABLE = [
    "c 2026-12-01", "2026-12-01T10:00:00Z", "2026-12-01 10:00:00+02:00", "2026-12-01T10:00:00.123456+0530",
    "[2026-12-01T10:00:00.123+0000] {taskinstance.py:1234} INFO", "run_id=manual__2026-12-01T10:00:00+00:00",
    "20261201T103000Z", "day 20261201", "at 12:30:45.123", "14-03-2026 19-00", "01/12/2026", "2026.12.01",
    "ip 192.168.100.200", "10.0.0.1:8080", "2001:db8::8a2e:370:7334", "/var/data/2026/12/01/cdr_20261201.csv",
    "s3://bucket/2026-12-01/part-00000000001.csv", "file:///tmp/33612345678/x", "C:\\data\\20261201\\x.csv",
    "550e8400-e29b-41d4-a716-446655440000", "12345678-1234-1234-1234-123456789012", "version 1.2.3",
    "v2.10.11", "10.0.19041.1237", "wrote 1048576 bytes", "12345678 bytes", "4294967296 bytes", "5368709120 B",
    "size=5368709120", "1 048 576 bytes", "epoch 1764583200", "1764583200123 ms", "1073741824",
    "called 1200 frames, id 42", "Kaleyra call 217691534-1", "3.14159265358", "retry 1/4 in 0.50 s",
    "HTTP 503 Retry-After: 120", "sent 3/10 frames (30%), 1200 numbers", "frame 0000000001",
]  # fmt: skip
PHONES = [
    "+33612345678", "+1 415 555 2671", "+19876543210", "(415) 555-2671", "415-555-2671", "415.555.2671",
    "06 12 34 56 78", "06.12.34.56.78", "0612345678", "020 7946 0958", "(11) 98765-4321", "5511987654321",
    "919876543210", "9876543210", "13214567890", "0033 6 12 34 56 78", "+44 20 7946 0958", "+55 (11) 98765-4321",
    "+91 98765 43210",
]  # fmt: skip


@pytest.mark.parametrize("text", READABLE)
def test_non_phone_numbers_stay_readable(text):
    assert mask_phones(text) == text
    assert redact(text, phones=True) == text


@pytest.mark.parametrize("number", PHONES)
@pytest.mark.parametrize("template", ["{}", "called {} at 2026-12-01 10:00:00", "to={}&date=2026-12-01",
                                      '{{"dest": "{}"}}', "numbers: {}, and more", "[{}]"])  # fmt: skip
def test_phone_numbers_in_free_text_are_masked(number, template):
    text = template.format(number)
    masked = mask_phones(text)
    digits = "".join(ch for ch in number if ch.isdigit())
    assert number not in masked and digits[-6:-2] not in masked.replace("2026-12-01", "").replace("10:00:00", "")
    assert masked.count("*") >= len(digits) - 5
    assert "2026-12-01" in masked or "2026-12-01" not in text


def test_url_query_numbers_are_masked_but_paths_and_dates_kept():
    text = "GET https://api.example.com/v1/sms/2026-12-01?to=%2B33612345678&from=13214567890&date=2026-12-01"
    masked = mask_phones(text)
    assert masked.startswith("GET https://api.example.com/v1/sms/2026-12-01?to=%2B33")
    assert "33612345678" not in masked and "13214567890" not in masked and masked.endswith("&date=2026-12-01")


def test_two_numbers_in_a_space_separated_list_are_both_masked():
    assert mask_phones("33612345678 33698765432") == "*********78 *********32"


def test_log_filter_uses_the_precise_masker(caplog):
    logger = get_logger("airflow_provider_voice.tests.phones")
    with caplog.at_level(logging.INFO, logger="airflow_provider_voice.tests.phones"):
        logger.info("c %s sent to %s at %s from %s", "2026-12-01", "+33612345678", "10.0.0.1", "/data/2026/x.csv")
    assert caplog.records[-1].getMessage() == "c 2026-12-01 sent to +33*******78 at 10.0.0.1 from /data/2026/x.csv"
