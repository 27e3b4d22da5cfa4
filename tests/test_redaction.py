"""Secrets never reach logs or error messages; phone numbers are partly masked in logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from airflow_provider_voice.errors import AuthError, ServerError
from airflow_provider_voice.redaction import RedactingFilter, get_logger, mask_phone, redact, register_secret
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.vendors.base import VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.velip import VelipApi

SECRET = "Kx9-secret-api-key-ABCDEF123456"


def echoing_vendor(status: int):
    """A vendor that (badly) echoes the credentials it received into its error body."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={"status": "E401", "message": f"Invalid API key {request.headers.get('x-api-key')} for +919876543210"},
        )

    return handler


def test_failing_authenticated_request_leaks_no_key(caplog):
    caplog.set_level(logging.DEBUG)
    api = KaleyraApi(api_key=SECRET, base_urls={"default": "https://kaleyra.invalid/v1/"})
    client = VendorClient(api, http_client=httpx.Client(transport=httpx.MockTransport(echoing_vendor(401))))
    with pytest.raises(AuthError) as info:
        client.send(api.monitor())
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)
    assert SECRET not in caplog.text
    assert SECRET not in repr(api)
    assert "Invalid API key" in str(info.value)


def test_retry_warnings_leak_no_key(caplog):
    caplog.set_level(logging.DEBUG)
    api = KaleyraApi(api_key=SECRET, base_urls={"default": "https://kaleyra.invalid/v1/"})
    client = VendorClient(
        api,
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda s: None,
        http_client=httpx.Client(transport=httpx.MockTransport(echoing_vendor(503))),
    )
    with pytest.raises(ServerError):
        client.send(api.monitor())  # monitor is a read: retried once, with a warning
    assert "retry 1/1" in caplog.text
    assert SECRET not in caplog.text


def test_velip_bearer_token_is_masked_in_any_log_line(caplog):
    token = "velip-token-0123456789abcdef"
    VelipApi(token=token)
    logger = get_logger("airflow_provider_voice.tests")
    with caplog.at_level(logging.INFO, logger="airflow_provider_voice.tests"):
        logger.info("sending with Authorization: Bearer %s", token)
        logger.info("raw token %s in text", token)
    assert token not in caplog.text
    assert caplog.text.count("***") >= 2


def test_registered_secret_reaches_airflow_masker():
    from airflow.sdk.log import _secrets_masker

    register_secret("another-secret-value-42")
    assert "another-secret-value-42" not in _secrets_masker().redact("x another-secret-value-42 y")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+33612345678", "+33*******78"),
        ("+14155552671", "+1********71"),
        ("+919876543210", "+91********10"),
        ("5511987654321", "***********21"),
        ("123", "***"),
    ],
)
def test_mask_phone(number, masked):
    assert mask_phone(number) == masked


def test_log_filter_masks_phones_but_keeps_other_numbers():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "called %s, 1200 frames, id 42", ("+33612345678",), None)
    RedactingFilter(mask_phones=True).filter(record)
    assert record.getMessage() == "called +33*******78, 1200 frames, id 42"


@pytest.mark.parametrize(
    "text",
    [
        "x-api-key: abcdef123",
        "Authorization: Bearer abcdef123",
        "api-key=abcdef123&x=1",
        '{"api_key": "abcdef123"}',
        '"tsid":"abcdef123"',
    ],
)
def test_credential_pairs_are_redacted_even_if_unregistered(text):
    assert "abcdef123" not in redact(text)


def test_register_secret_inside_an_event_loop_updates_airflow_masker():
    import asyncio

    from airflow.sdk.log import _secrets_masker

    async def build_in_trigger():
        KaleyraApi(api_key="trigger-side-secret-987", base_urls={})
        await asyncio.sleep(0)  # let the scheduled amask_secret run

    asyncio.run(build_in_trigger())
    assert "trigger-side-secret-987" not in _secrets_masker().redact("key=trigger-side-secret-987")
