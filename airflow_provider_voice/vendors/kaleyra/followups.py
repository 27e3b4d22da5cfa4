"""Kaleyra call follow-ups (``method=followup``): create once, edit, delete.

* **create** first looks for the same follow-up (same phone, follower, name and minute) in
  ``followup.reports`` and returns its id instead of creating a second one, so a retried task
  does not schedule the call twice (``skip_if_exists=False`` turns this off);
* **edit** sends every field again (idempotent);
* **delete**: the spec marks ``phone``, ``name``, ``follower`` and ``ontime`` mandatory on the
  delete request; the ones not given are taken from the follow-up as ``followup.reports`` lists
  it (a follow-up it does not list is a ``ValidationError``: nothing is sent).

Each method returns ``{"action", "id", "message", "existing"}`` (the operator's XCom).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.kaleyra.api_calls import FOLLOWUP_TIME_FORMAT, format_followup_time
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION
from airflow_provider_voice.vendors.kaleyra.records import KaleyraFollowupRecord

if TYPE_CHECKING:  # the package exports this module: importing it at run time would be circular
    # used in the base class's quoted parameter below, which ruff does not read (mypy does)
    from airflow_provider_voice.vendors.kaleyra import KaleyraApi  # noqa: F401

__all__ = ["FOLLOWUP_ACTIONS", "REPORT_ONTIME_FORMATS", "KaleyraFollowUps", "report_minute"]

log = get_logger(__name__)

FOLLOWUP_ACTIONS = ("create", "edit", "delete")
#: how ``followup.reports`` shows ``ontime`` (``14-10-2015 07:00:00 PM``)
REPORT_ONTIME_FORMATS = ("%d-%m-%Y %I:%M:%S %p", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", FOLLOWUP_TIME_FORMAT)
#: the fields that identify a follow-up (mandatory on ``action=delete``)
IDENTITY_FIELDS = ("phone", "name", "follower", "ontime")


def report_minute(text: str | None) -> str | None:
    """A ``followup.reports`` ``ontime`` as ``dd-mm-yyyy hh-mm`` (None when unreadable).

    :param text: the ``ontime`` Kaleyra lists.
    """
    for fmt in REPORT_ONTIME_FORMATS:
        try:
            return dt.datetime.strptime((text or "").strip(), fmt).strftime(FOLLOWUP_TIME_FORMAT)
        except ValueError:
            continue
    return None


class KaleyraFollowUps(VendorCapability["KaleyraApi"]):
    """Create, edit or delete Kaleyra call follow-ups (see the module docstring).

    :param access: the Kaleyra API and its clients (``hook.access``).
    """

    def create(
        self,
        *,
        phone: Any,
        name: Any,
        follower: Any,
        ontime: Any,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
        skip_if_exists: bool = True,
    ) -> dict[str, Any]:
        """Schedule a follow-up, unless the same one is already listed (``skip_if_exists``).

        :param phone: the customer's number.
        :param name: the follow-up name.
        :param follower: the agent's number.
        :param ontime: when (see :func:`~.api_calls.format_followup_time`).
        :param autocall: call follower and customer together at ``ontime``.
        :param notes: free text.
        :param default_region: region of numbers without a country code.
        :param skip_if_exists: look for the same follow-up first and return its id.
        """
        call = self.api.followup_create(
            phone, name, follower, ontime, autocall=autocall, notes=notes, default_region=default_region
        )  # validated before anything is sent
        if skip_if_exists:
            found = self.find(call)
            if found:
                log.info("follow-up already scheduled (id %s): not creating it again", found)
                return {"action": "create", "id": found, "message": "already scheduled", "existing": True}
        followup_id = self.access.client().send(call)
        log.info("follow-up %s created for %s", followup_id, format_followup_time(ontime))
        return {"action": "create", "id": followup_id, "message": "created", "existing": False}

    def edit(
        self,
        followup_id: Any,
        *,
        phone: Any,
        name: Any,
        follower: Any,
        ontime: Any,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> dict[str, Any]:
        """Change a follow-up (every field is sent again).

        :param followup_id: the follow-up to change (from the ``create`` result).
        :param phone: the customer's number.
        :param name: the follow-up name.
        :param follower: the agent's number.
        :param ontime: when.
        :param autocall: call follower and customer together at ``ontime``.
        :param notes: free text.
        :param default_region: region of numbers without a country code.
        """
        call = self.api.followup_edit(
            followup_id, phone, name, follower, ontime, autocall=autocall, notes=notes, default_region=default_region
        )  # validated before anything is sent
        edited = self.access.client().send(call)
        log.info("follow-up %s updated", edited)
        return {"action": "edit", "id": edited, "message": "updated", "existing": False}

    def delete(
        self,
        followup_id: Any,
        *,
        phone: Any = None,
        name: Any = None,
        follower: Any = None,
        ontime: Any = None,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> dict[str, Any]:
        """Delete a follow-up; the identifying fields not given are read from ``followup.reports``.

        :param followup_id: the follow-up to delete.
        :param phone: its customer's number (looked up when omitted).
        :param name: its name (looked up when omitted).
        :param follower: its agent's number (looked up when omitted).
        :param ontime: its time (looked up when omitted).
        :param autocall: as it was created.
        :param notes: free text.
        :param default_region: region of numbers without a country code.
        :raises ValidationError: a field is missing and ``followup.reports`` does not list the follow-up.
        """
        given: dict[str, Any] = {"phone": phone, "name": name, "follower": follower, "ontime": ontime}
        if any(value in (None, "") for value in given.values()):
            row = self.listed(followup_id)
            if row is None:
                raise ValidationError(
                    "followup_id",
                    followup_id,
                    "not listed by followup.reports: pass phone, name, follower and ontime to delete it",
                )
            found = {
                "phone": row.phone,
                "name": row.name,
                "follower": row.follower,
                "ontime": report_minute(row.ontime),
            }
            given = {key: found[key] if value in (None, "") else value for key, value in given.items()}
        call = self.api.followup_delete(
            followup_id, **given, autocall=autocall, notes=notes, default_region=default_region
        )  # validated before anything is sent
        reply = self.access.client().send(call)
        log.info("follow-up %s deleted", followup_id)
        return {"action": "delete", "id": str(followup_id), "message": reply.message, "existing": False}

    def listed(self, followup_id: Any) -> KaleyraFollowupRecord | None:
        """The ``followup.reports`` row of ``followup_id``, if Kaleyra lists it.

        :param followup_id: the follow-up id.
        """
        wanted = str(followup_id or "").strip()
        flow = self.api.followup_reports_flow()
        for row in self.access.client().iterate(flow):
            if isinstance(row, KaleyraFollowupRecord) and str(row.id or "").strip() == wanted:
                return row
        return None

    def find(self, call: Call[str]) -> str | None:
        """The id of a listed follow-up with the same phone, follower, name and minute as ``call``.

        :param call: a validated ``followup_create`` request (its fields are Kaleyra's forms).
        """
        fields = call.data or {}
        flow = self.api.followup_reports_flow(follower=fields["follower"], number=fields["phone"])
        for row in self.access.client().iterate(flow):
            if (
                isinstance(row, KaleyraFollowupRecord)
                and (row.phone or "") == fields["phone"]
                and (row.follower or "") == fields["follower"]
                and (row.name or "").strip() == fields["name"]
                and report_minute(row.ontime) == fields["ontime"]
            ):
                return row.id
        return None
