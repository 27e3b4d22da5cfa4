"""The vendor-free escalation (capabilities/paging.py) with a scripted capability, and Velip's read-back rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from airflow_provider_voice.capabilities.paging import Escalation, PagingLog, PagingSupersededError, parse_people
from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore
from airflow_provider_voice.errors import MalformedResponseError, RequestTimeoutError, ServerError, VendorRejectedError
from airflow_provider_voice.models.paging import PageHandle, PageOutcome, PageStatus
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.vendors.velip.paging import velip_confirmation, velip_page_outcome
from airflow_provider_voice.vendors.velip.records import VelipCallRecord

KEY = CheckpointKey("dag", "page", "run-1")
PEOPLE = parse_people(["+5511987650001", "+5511987650002"])


class ScriptedPaging:
    """A paging capability answering ``page`` from a script (exceptions raised, else a placed call)."""

    vendor = "fake"

    def __init__(self, *answers: Any, listed: bool = False) -> None:
        self.answers = list(answers)
        self.listed = listed
        self.pages: list[tuple[str, str]] = []
        self.finds: list[str] = []

    def check(self, message: str, options: Mapping[str, Any]) -> dict[str, Any]:
        return dict(options)

    def page(self, number: PhoneNumber, message: str, *, key: str, options: Mapping[str, Any]) -> PageHandle:
        self.pages.append((str(number), key))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, BaseException):
            raise answer
        return PageHandle(vendor=self.vendor, call_id=f"call{len(self.pages)}", key=key)

    def find(self, key: str) -> PageHandle | None:
        self.finds.append(key)
        return PageHandle(vendor=self.vendor, call_id="found1", key=key) if self.listed else None

    def is_duplicate(self, exc: VendorRejectedError) -> bool:
        return exc.vendor_code == "220"

    def status_call(self, handle: PageHandle) -> Any:  # pragma: no cover - not polled here
        raise NotImplementedError

    def interpret(self, handle: PageHandle, answer: Any) -> PageStatus:  # pragma: no cover
        raise NotImplementedError


def escalation(paging: ScriptedPaging, store: MemoryCheckpointStore, attempt: int = 1) -> Escalation:
    log = PagingLog(store, KEY, attempt=attempt)
    return Escalation(paging, PEOPLE, message="m", options={}, rounds=1, attempt_timeout=60, log=log)


def lost() -> RequestTimeoutError:
    return RequestTimeoutError("read timeout after sending", may_have_been_accepted=True, vendor="fake")


def test_a_lost_answer_found_by_key_is_adopted_without_placing_again():
    paging, store = ScriptedPaging(lost(), listed=True), MemoryCheckpointStore()
    run = escalation(paging, store)
    run.call(1)
    (attempt,) = run.state().ordered
    assert (attempt.placed, attempt.call_id, attempt.failures) == (True, "found1", ["in_doubt"])
    assert len(paging.pages) == 1 and paging.finds == [paging.pages[0][1]]


def test_a_lost_answer_not_found_is_placed_again_once_with_the_same_key():
    paging, store = ScriptedPaging(lost()), MemoryCheckpointStore()
    run = escalation(paging, store)
    run.call(1)
    (attempt,) = run.state().ordered
    assert attempt.placed and attempt.call_id == "call2" and attempt.resends == 1
    assert paging.pages[0] == paging.pages[1]  # same number, same key


def test_a_resend_that_is_lost_again_or_refused_is_in_doubt_and_the_next_person_is_next():
    for second in (lost(), VendorRejectedError("Duplicate destination", vendor_code="244")):
        paging, store = ScriptedPaging(lost(), second), MemoryCheckpointStore()
        run = escalation(paging, store)
        run.call(1)
        (attempt,) = run.state().ordered
        assert attempt.outcome is PageOutcome.IN_DOUBT and len(paging.pages) == 2
        assert run.next_step().kind == "call" and run.next_step().number == 2


def test_a_request_certainly_not_sent_fails_the_try_and_the_retry_places_it():
    paging, store = ScriptedPaging(ServerError("unavailable", status_code=503)), MemoryCheckpointStore()
    with pytest.raises(ServerError):
        escalation(paging, store).call(1)
    retry = escalation(paging, store, attempt=2)
    step = retry.next_step()
    assert step.kind == "reconcile" and step.attempt is not None
    retry.reconcile(step.attempt)  # not found, never placed: placed now, same key
    assert retry.state().ordered[0].placed and paging.pages[0] == paging.pages[1]


def test_a_worker_lost_between_intent_and_answer_is_looked_up_first():
    paging, store = ScriptedPaging(listed=True), MemoryCheckpointStore()
    run = escalation(paging, store)
    run.log.write("page", n=1, p=0, r=1, k=run.log.attempt_key(1), ts=1.0)  # the intent, then the worker died
    retry = escalation(paging, store, attempt=2)
    step = retry.next_step()
    assert step.kind == "reconcile" and step.attempt is not None
    retry.reconcile(step.attempt)
    assert paging.pages == [] and retry.state().ordered[0].call_id == "found1"  # nobody called again


def test_a_duplicate_key_refusal_is_read_as_placed():
    paging = ScriptedPaging(VendorRejectedError("Duplicate ctid", vendor_code="220"), listed=True)
    run = escalation(paging, MemoryCheckpointStore())
    run.call(1)
    assert run.state().ordered[0].call_id == "found1" and len(paging.pages) == 1


def test_a_superseded_try_places_no_call():
    paging, store = ScriptedPaging(), MemoryCheckpointStore()
    old = escalation(paging, store, attempt=1)
    escalation(paging, store, attempt=2)  # a newer try claims the escalation
    with pytest.raises(PagingSupersededError):
        old.call(1)
    assert paging.pages == []


def test_settling_needs_an_outcome():
    paging, store = ScriptedPaging(), MemoryCheckpointStore()
    run = escalation(paging, store)
    run.call(1)
    (attempt,) = run.state().ordered
    with pytest.raises(ValueError):
        run.settle(attempt, PageStatus(vendor="fake", outcome=PageOutcome.PENDING))
    assert (
        run.settle(attempt, PageStatus(vendor="fake", outcome=PageOutcome.PENDING), timed_out=True).value == "timeout"
    )


@pytest.mark.parametrize(
    ("row", "outcome", "pressed"),
    [
        ({"cd_status": "OK", "dtmf": "1", "confirmed": 1}, "acknowledged", "1"),
        ({"cd_status": "OK", "dtmf": "1", "confirmed": "1"}, "acknowledged", "1"),
        ({"cd_status": "OK", "dtmf": "9", "confirmed": 0}, "not_acknowledged", "9"),
        ({"cd_status": "OK", "dtmf": "", "confirmed": 0}, "not_acknowledged", None),
        ({"cd_status": "OK", "dtmf": "1"}, "acknowledged", "1"),  # no confirmed field: a key counts
        ({"cd_status": "OK"}, "not_acknowledged", None),  # no field at all: not acknowledged
        ({"cd_status": "OK", "dtmf": 1, "confirmed": True}, "acknowledged", "1"),
        ({"cd_status": "NA", "dtmf": "", "confirmed": 0}, "no_answer", None),
        ({"cd_status": "IK"}, "invalid_number", None),
        ({"cd_status": "BK"}, "blocked", None),
        ({"cd_status": "ZZ"}, "failed", None),
        ({"cd_status": "PD", "dtmf": "", "confirmed": 0}, "pending", None),
    ],
)
def test_velip_read_back(row, outcome, pressed):
    record = VelipCallRecord.model_validate({"cd_id": "c_1", **row})
    confirmed, dtmf = velip_confirmation(record)
    assert dtmf == pressed
    assert velip_page_outcome(record.cd_status, confirmed, dtmf).value == outcome


@pytest.mark.parametrize("row", [{"dtmf": ["1"]}, {"dtmf": {"k": 1}}, {"confirmed": "maybe"}, {"confirmed": [1]}])
def test_velip_read_back_refuses_odd_values(row):
    with pytest.raises(MalformedResponseError):
        velip_confirmation(VelipCallRecord.model_validate({"cd_id": "c_1", "cd_status": "OK", **row}))
