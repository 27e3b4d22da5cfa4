"""Read the vendor events that started a DAG run: :func:`triggering_voice_events`.

A DAG scheduled on an event Asset (``schedule=[voice_event_asset("televoips_default",
"messages-received")]``) is started by the Asset events the webhook receiver or a
:class:`~airflow_provider_voice.triggers.events.VoiceEventTrigger` creates. Those Asset events carry
ids and counts only; the events themselves (numbers, texts, statuses) are in the event store
(``[voice] events_path``), and this function reads them back.

**Each event is consumed once per consumer** (default: the DAG id). The function reads every batch
of the run's event Assets that this consumer has not consumed yet — the batches its Asset events
announce *and* any others stored since the consumer last read (Airflow may leave the tail of a
burst of Asset events for the next run; those events are read now, and the later run finds
nothing new). Each batch is claimed for the run (a retry of the run reads the same batches again;
another run skips them, and the log says so). A run with no event Asset (a manual run, ``airflow
dags test``) reads the Assets given in ``assets`` — by default those the DAG is scheduled on — over
the last ``lookback``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_voice.delivery.event_store import (
    EventBatch,
    EventStore,
    EventStoreError,
    batch_time,
    configured_event_store,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.events import VoiceEvent, event_asset_uri, parse_event_asset_uri
from airflow_provider_voice.operators.base import fail_fast
from airflow_provider_voice.redaction import get_logger

__all__ = ["opt_out_numbers", "triggering_voice_events", "voice_event_asset"]

log = get_logger(__name__)

#: batches written this long before a consumer's last read are read again (clock skew, slow writers)
OVERLAP_SECONDS = 600.0
DEFAULT_LOOKBACK = dt.timedelta(days=1)


def voice_event_asset(conn_id: str, kind: str, *, vendor: str | None = None, watchers: Sequence[Any] = ()) -> Any:
    """The Airflow ``Asset`` announcing ``kind`` events of a connection (``voice://<vendor>/<conn_id>/<kind>``).

    :param conn_id: the connection the vendor's webhooks (or the trigger) are for.
    :param kind: ``messages-received``, ``deliveries``, ``opt-outs``, ``calls-answered``,
        ``calls-ended`` or ``cdrs``.
    :param vendor: the connection's vendor; default: read from the connection id's prefix when it is
        a vendor name (``televoips_default`` → ``televoips``), else required.
    :param watchers: ``AssetWatcher`` objects (the pull path: a ``VoiceEventTrigger``).
    """
    from airflow.sdk import Asset

    from airflow_provider_voice.vendors.registry import VENDORS

    names = [v.name for v in VENDORS]
    if vendor is None:
        vendor = next((name for name in names if conn_id == name or conn_id.startswith(name + "_")), None)
        if vendor is None:
            raise ValidationError("vendor", None, f"one of {', '.join(names)} (conn_id {conn_id!r} does not say)")
    if vendor not in names:
        raise ValidationError("vendor", vendor, f"one of {', '.join(names)}")
    try:
        uri = event_asset_uri(vendor, conn_id, kind)
    except ValueError as err:
        raise ValidationError("kind", kind, str(err)) from None
    return Asset(name=uri, uri=uri, watchers=list(watchers))


def _batch_ids(extra: Any) -> list[str]:
    """Batch ids announced in an Asset event's extra (receiver: top level; trigger: under ``payload``)."""
    if not isinstance(extra, Mapping):
        return []
    payload = extra.get("payload") if isinstance(extra.get("payload"), Mapping) else extra
    ids = payload.get("voice_batches") if isinstance(payload, Mapping) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _triggering(context: Mapping[str, Any]) -> dict[str, tuple[list[str], float | None]]:
    """Event Asset URI -> (announced batch ids, earliest event time) from the run's Asset events."""
    out: dict[str, tuple[list[str], float | None]] = {}
    accessor = context.get("triggering_asset_events") or {}
    try:
        items = list(accessor.items())
    except AttributeError:
        return out
    for asset, events in items:
        uri = getattr(asset, "uri", None)
        if not isinstance(uri, str) or parse_event_asset_uri(uri) is None:
            continue
        ids, earliest = out.get(uri, ([], None))
        for event in events or []:
            ids.extend(_batch_ids(getattr(event, "extra", None)))
            stamp = getattr(event, "timestamp", None)
            if isinstance(stamp, dt.datetime):
                earliest = min(earliest, stamp.timestamp()) if earliest is not None else stamp.timestamp()
        out[uri] = (ids, earliest)
    return out


def _scheduled_on(context: Mapping[str, Any]) -> list[str]:
    """The event Asset URIs the run's DAG is scheduled on (walking ``&``/``|`` conditions)."""
    dag = context.get("dag")
    found: list[str] = []

    def walk(node: Any, depth: int = 0) -> None:
        uri = getattr(node, "uri", None)
        if isinstance(uri, str):
            if parse_event_asset_uri(uri) is not None:
                found.append(uri)
            return
        for child in getattr(node, "objects", ()) if depth < 20 else ():
            walk(child, depth + 1)

    walk(getattr(getattr(dag, "timetable", None), "asset_condition", None))
    return found


def _uri(asset: Any) -> str:
    uri = asset if isinstance(asset, str) else getattr(asset, "uri", None)
    if not isinstance(uri, str) or parse_event_asset_uri(uri) is None:
        raise fail_fast(ValidationError("assets", uri or asset, "event Assets: voice://<vendor>/<conn_id>/<kind>"))
    return uri


def _owners(mark: Mapping[str, Any] | None) -> dict[str, str]:
    """Batch id -> the run that claimed it, as a consumer's cursor remembers them (empty when it does not)."""
    found = mark.get("owners") if isinstance(mark, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {b: o for b, o in found.items() if isinstance(b, str) and isinstance(o, str)}


def _made(batch_id: str) -> float:
    """When a batch id was made (0 for an id that is not one of ours)."""
    try:
        return batch_time(batch_id)
    except EventStoreError:
        return 0.0


def triggering_voice_events(
    context: Mapping[str, Any],
    *,
    kinds: Iterable[str] | None = None,
    assets: Iterable[Any] | None = None,
    consumer: str | None = None,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    store: EventStore | None = None,
) -> list[VoiceEvent]:
    """The vendor events this run consumes, oldest batch first (see the module docstring).

    :param context: the task context (``**context`` of a ``@task``, or ``execute``'s).
    :param kinds: only these event kinds (``opt-outs``...); default all.
    :param assets: the event Assets (or URIs) to read; default: those whose Asset events started
        the run, else those the DAG is scheduled on.
    :param consumer: who consumes (default: the DAG id): two DAGs on one Asset each read every event.
    :param lookback: how far back a consumer reads the first time (no earlier read, no Asset events).
    :param store: the event store (default ``[voice] events_path``).
    :returns: the events (``VoiceEvent``: ``number``, ``text``, ``outcome``, ``status``, ``raw``...).
    """
    store = store or configured_event_store()
    wanted = set(kinds) if kinds is not None else None
    triggering = _triggering(context)
    uris = [_uri(a) for a in assets] if assets is not None else (list(triggering) or _scheduled_on(context))
    if not uris:  # nothing to read is a mistake, not "no events"
        raise fail_fast(
            ValidationError(
                "assets",
                None,
                "event Assets to read: the run has no voice Asset event, the DAG is scheduled on none, "
                "and none was given (assets=[voice_event_asset(conn_id, kind)])",
            )
        )
    dag_run = context.get("dag_run")
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", None) or "manual")
    consumer = consumer or str(getattr(context.get("dag"), "dag_id", None) or context.get("dag_id") or "default")
    now = time.time()
    events: list[VoiceEvent] = []
    seen: set[str] = set()
    read_batches = skipped = 0
    for uri in dict.fromkeys(uris):
        parsed = parse_event_asset_uri(uri)
        if parsed is None:
            continue
        vendor, conn_id, kind = parsed
        if wanted is not None and kind not in wanted:
            continue
        announced, earliest = triggering.get(uri, ([], None))
        cursor_name = f"consumer-{consumer}-{uri}"
        mark = store.cursor(cursor_name)
        if mark and isinstance(mark.get("through"), (int, float)):
            since = float(mark["through"]) - OVERLAP_SECONDS
        elif earliest is not None:
            since = earliest - OVERLAP_SECONDS
        else:
            since = now - lookback.total_seconds()
        # batches earlier runs claimed inside the overlap window (the cursor remembers their owners): those of
        # other runs are neither read nor claimed again — a retry of the owner reads its own again. The claim
        # stays the rule; this spares every run reading and claiming the whole window anew.
        owners = _owners(mark)
        known = {batch_id for batch_id, owner in owners.items() if owner != run_id}
        batches: dict[str, EventBatch] = {
            b.batch_id: b for b in store.batches_since(vendor, conn_id, kind, since, until=now, skip=known)
        }
        for batch_id in announced:
            if batch_id in known:
                skipped += 1
            elif batch_id not in batches:
                batches[batch_id] = store.batch(vendor, conn_id, kind, batch_id)
        for batch in sorted(batches.values(), key=lambda b: b.batch_id):
            owner = store.claim(consumer, batch.batch_id, run_id)
            owners[batch.batch_id] = owner
            if owner != run_id:
                skipped += 1
                continue
            for event in store.events(batch):
                if event.key not in seen:  # the same event in two batches (two receivers raced): once
                    seen.add(event.key)
                    events.append(event)
            read_batches += 1
        recent = {b: o for b, o in owners.items() if _made(b) >= now - 2 * OVERLAP_SECONDS}
        store.save_cursor(cursor_name, {"through": now, "run_id": run_id, "owners": recent})
    by_kind: dict[str, int] = {}
    for event in events:
        by_kind[event.kind] = by_kind.get(event.kind, 0) + 1
    log.info(
        "read %d voice event(s) %s from %d batch(es) of %d Asset(s) for consumer %r; %d batch(es) "
        "already consumed by another run skipped",
        len(events),
        by_kind,
        read_batches,
        len(uris),
        consumer,
        skipped,
    )
    return events


def opt_out_numbers(events: Iterable[VoiceEvent], *, on_unusable: str = "fail") -> list[str]:
    """The distinct numbers of the ``opt-outs`` events (E.164), in arrival order.

    An opt-out whose number did not parse cannot be honoured automatically; each one is logged at
    ERROR with its vendor reference. ``on_unusable="fail"`` (default) then raises
    :class:`~airflow_provider_voice.errors.ValidationError` (the task fails: a person asked to stop
    and nobody acted); ``"log"`` returns the usable numbers only.
    """
    if on_unusable not in ("fail", "log"):
        raise fail_fast(ValidationError("on_unusable", on_unusable, "'fail' or 'log'"))
    numbers: dict[str, None] = {}
    unusable: list[VoiceEvent] = []
    for event in events:
        if event.kind != "opt-outs":
            continue
        if event.number:
            numbers[event.number] = None
        else:
            log.error("opt-out %s (%s) has no usable number: honour it by hand", event.ref or event.key, event.vendor)
            unusable.append(event)
    if unusable and on_unusable == "fail":
        raise fail_fast(
            ValidationError(
                "opt-outs",
                f"{len(unusable)} event(s)",
                "opt-outs with a usable number; these vendor references have none: "
                + ", ".join(str(e.ref or e.key) for e in unusable[:10]),
            )
        )
    return list(numbers)
