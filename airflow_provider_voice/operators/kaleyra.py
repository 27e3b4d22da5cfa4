"""Kaleyra-only call operations: follow-ups (``followup``) and the progressive dialer (``autodial.*``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.vendors.kaleyra.calls import FOLLOWUP_TIME_FORMAT, format_followup_time

__all__ = ["KaleyraFollowUpOperator"]

FOLLOWUP_ACTIONS = ("create", "edit", "delete")
#: how ``followup.reports`` shows ``ontime`` (``14-10-2015 07:00:00 PM``)
REPORT_ONTIME_FORMATS = ("%d-%m-%Y %I:%M:%S %p", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", FOLLOWUP_TIME_FORMAT)


def _kaleyra_hook(conn_id: str, what: str) -> Any:
    hook = BaseHook.get_hook(conn_id)
    if getattr(hook, "conn_type", None) != "kaleyra":
        raise ValidationError("conn_id", conn_id, f"{what} is a Kaleyra Voice feature: use a kaleyra connection")
    return hook


def _report_minute(text: str | None) -> str | None:
    """A ``followup.reports`` ``ontime`` as ``dd-mm-yyyy hh-mm`` (None when unreadable)."""
    for fmt in REPORT_ONTIME_FORMATS:
        try:
            return dt.datetime.strptime((text or "").strip(), fmt).strftime(FOLLOWUP_TIME_FORMAT)
        except ValueError:
            continue
    return None


class KaleyraFollowUpOperator(BaseOperator):
    """Create, edit or delete a Kaleyra call follow-up (``method=followup``).

    A follow-up reminds an agent (``follower``) to call a customer (``phone``) at ``ontime``; with
    ``autocall`` Kaleyra calls them together at that time.

    ``create`` first looks for the same follow-up (same phone, follower, name and minute) in
    ``followup.reports`` and returns its id instead of creating a second one, so a retried task
    does not schedule the call twice (``skip_if_exists=False`` turns this off).

    :param conn_id: a Kaleyra connection.
    :param action: ``create``, ``edit`` or ``delete``.
    :param followup_id: the follow-up to edit or delete (from the ``create`` XCom). Templated.
    :param phone: the customer's number. Templated. :param follower: the agent's number. Templated.
    :param name: the follow-up name. Templated.
    :param ontime: when: datetime, ISO text (converted to India time) or ``dd-mm-yyyy hh-mm``. Templated.
    :param autocall: call follower and customer together at ``ontime``.
    :param notes: free text. Templated.
    :param default_region: region of numbers without a country code (default ``IN``).

    XCom: ``{"action", "id", "message", "existing"}`` (``existing`` True when ``create`` found it already there).
    """

    template_fields: Sequence[str] = ("conn_id", "followup_id", "phone", "name", "follower", "ontime", "notes")
    ui_color = "#fff2e0"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        action: Literal["create", "edit", "delete"] = "create",
        followup_id: Any = None,
        phone: Any = None,
        name: str | None = None,
        follower: Any = None,
        ontime: Any = None,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str = "IN",
        skip_if_exists: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action not in FOLLOWUP_ACTIONS:
            raise ValidationError("action", action, "'create', 'edit' or 'delete'")
        self.conn_id = conn_id
        self.action = action
        self.followup_id = followup_id
        self.phone = phone
        self.name = name
        self.follower = follower
        self.ontime = ontime
        self.autocall = autocall
        self.notes = notes
        self.default_region = default_region
        self.skip_if_exists = skip_if_exists

    @cached_property
    def hook(self) -> Any:
        return _kaleyra_hook(self.conn_id, "call follow-ups")

    def execute(self, context: Any) -> dict[str, Any]:
        api, client = self.hook.api, self.hook.client
        if self.action == "delete":
            call = api.followup_delete(self.followup_id)
            reply = client.http.send(call)
            self.log.info("follow-up %s deleted", self.followup_id)
            return {"action": "delete", "id": str(self.followup_id), "message": reply.message, "existing": False}
        fields = {
            "phone": self.phone,
            "name": self.name,
            "follower": self.follower,
            "ontime": self.ontime,
            "autocall": bool(self.autocall),
            "notes": self.notes or None,
            "default_region": self.default_region,
        }
        if self.action == "edit":
            call = api.followup_edit(self.followup_id, **fields)  # validated before sending
            followup_id = client.http.send(call)
            self.log.info("follow-up %s updated", followup_id)
            return {"action": "edit", "id": followup_id, "message": "updated", "existing": False}
        call = api.followup_create(**fields)  # validated before sending
        if self.skip_if_exists:
            found = self._existing(call)
            if found:
                self.log.info("follow-up already scheduled (id %s): not creating it again", found)
                return {"action": "create", "id": found, "message": "already scheduled", "existing": True}
        followup_id = client.http.send(call)
        self.log.info("follow-up %s created for %s", followup_id, format_followup_time(self.ontime))
        return {"action": "create", "id": followup_id, "message": "created", "existing": False}

    def _existing(self, call: Any) -> str | None:
        """The id of a follow-up with the same phone, follower, name and minute, if Kaleyra lists one."""
        fields = call.data
        flow = self.hook.api.followup_reports_flow(follower=fields["follower"], number=fields["phone"])
        for row in self.hook.client.http.iterate(flow):
            if (
                (row.phone or "") == fields["phone"]
                and (row.follower or "") == fields["follower"]
                and (row.name or "").strip() == fields["name"]
                and _report_minute(row.ontime) == fields["ontime"]
            ):
                return row.id
        return None
