"""The node runners: what each node type does to a batch of walks standing at it (the engine groups due
walks by (version, node) and calls `run_node` once per group).

- send: contacts no longer mailable (unsubscribed, bounced, complained, suppressed) end the walk here, before
  the mail; the frequency cap holds the walk at the node until a slot is free (as the sequence planner),
  and when the send follows a weekday / hour window wait, until that window's next opening after it;
  otherwise one ledger row per (walk, node, visit), INSERT .. ON CONFLICT DO NOTHING, with the template's
  current version, delivered by the ordinary delivery job (same rendering, unsubscribe link, legal footer,
  send-time suppression). A template without a saved version holds the walk for an hour. A node with an A/B
  test (`ab`) sends each walk its variant's template version and records the variant key on the send
  (campaigns.experiments.journeys: deterministic per walk, the winner after the decision); test walks get the
  node's own template.
- wait: on entry its end is set (a duration, the next opening of a weekday/hour window in the contact's
  zone, or a date from an attribute or the triggering event's property); when due it leaves by "next".
- wait_for: on entry an open or click of the watched mail that already happened (human only) or a stage
  already reached counts at once; otherwise the walk waits (`waiting`, due at the timeout). The matcher
  (happenings.py) moves it by "happened"; the runner, when the timeout comes, by "timeout".
- branch: each condition in order, for the whole batch in one SQL query (segment rules compiled by the
  segment compiler, or human opens / clicks of the walk's last mail); first match wins, else "else".
- split: a random path by percentage, recorded in the step's detail.
- action: actions.py. end: the walk completes.

Test walks (`test`) wait one minute wherever a wait or a timeout would be longer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import literal, select, text
from sqlalchemy.orm import Session

from campaigns.audience.segments import compile_rules, json_text
from campaigns.automation.actions import run_action
from campaigns.automation.batch import Batch, JourneyBroken
from campaigns.automation.walks import COMPLETED, EXITED, Plan, Walk
from campaigns.db import dialect_insert
from campaigns.experiments.journeys import node_split
from campaigns.journeys.sequences import next_allowed_by_cap, next_window_opening
from campaigns.models import Contact, Hit, HitKind, Link, Send, SendStatus, Template
from campaigns.models import sends as ledger
from campaigns.models.tracking import HitClass
from campaigns.sql_functions import among, pg_array

TEST_WAIT = timedelta(minutes=1)  # a test walk's waits and timeouts
MISSING_VERSION_RETRY = timedelta(hours=1)


def run_node(batch: Batch, plan: Plan, key: str, walks: list[Walk]) -> None:
    """Run node `key` of `plan` for walks standing at it (the engine, per group)."""
    node = plan.node(key)
    if node is None:
        raise JourneyBroken(f"node {key!r} is not in version {plan.version_id} of the journey")
    runner = _RUNNERS.get(node.type)
    if runner is None:
        raise JourneyBroken(f"node {key!r} has an unknown type {node.type!r}")
    runner(batch, plan, node.data, walks)
    batch.counts[f"node_{node.type}"] += len(walks)


# ------------------------------------------------------------------ send
def _run_send(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    now, session = batch.now, batch.session
    mailable: list[Walk] = []
    for w in walks:
        if w.contact_status != "active":
            w.finish(EXITED, w.contact_status, now, exit="exit")
            batch.counts["exited_unmailable"] += 1
        elif w.suppressed:
            w.finish(EXITED, "suppressed", now, exit="exit")
            batch.counts["exited_unmailable"] += 1
        else:
            mailable.append(w)
    if not mailable:
        return
    template_id = int(data["template_id"])
    if template_id not in batch.versions:
        batch.versions[template_id] = session.scalar(
            select(Template.current_version_id).where(Template.id == template_id))
    version_id = batch.versions[template_id]
    if version_id is None:
        for w in mailable:
            w.hold(now + MISSING_VERSION_RETRY)
        batch.counts["deferred_no_version"] += len(mailable)
        return
    recent: dict[int, list[datetime]] = defaultdict(list)
    if batch.cap_count > 0 and batch.cap_days > 0:
        for contact_id, created_at in session.execute(
            select(Send.contact_id, Send.created_at).where(
                among(session, Send.contact_id, sorted({w.contact_id for w in mailable})),
                Send.created_at > now - timedelta(days=batch.cap_days),
                Send.status.in_(ledger.COUNTED_STATUSES),
            )
        ):
            recent[contact_id].append(created_at)
    going: list[Walk] = []
    window = _guarding_window(plan, walks[0].node_key)
    for w in mailable:
        allowed = next_allowed_by_cap(recent.get(w.contact_id, []), batch.cap_count, batch.cap_days)
        if allowed is not None and allowed > now and not w.test:
            if window is not None:  # the slot the cap frees may fall outside the window the walk waited for
                allowed = next_window_opening(allowed, batch.zone(w), str(window.get("days") or ""),
                                              window.get("start_hour"), window.get("end_hour"))
            w.hold(allowed)
            batch.counts["deferred_cap"] += 1
            continue
        recent[w.contact_id].append(now)  # a second walk of this contact in the batch sees it
        going.append(w)
    if not going:
        return
    split = node_split(session, plan.journey_id, going[0].node_key) if data.get("ab") else None
    chosen: dict[int, tuple[str, int]] = {}
    for w in going:
        key, variant_version = split.choose(w.id) if split is not None and not w.test else ("", None)
        chosen[w.id] = (key, variant_version) if variant_version else ("", version_id)
    if split is not None:
        batch.counts["ab_variant_sends"] += sum(1 for key, _ in chosen.values() if key)
    sent = _insert_sends(batch, going, chosen)
    missing = [w for w in going if w.id not in sent]
    if missing:  # planned before (a crash after the insert, a replay): the ledger row is the one to follow
        visits = {w.id: w.visit for w in missing}
        for walk_id, visit, send_id in session.execute(
            select(Send.journey_enrolment_id, Send.visit, Send.id).where(
                among(session, Send.journey_enrolment_id, sorted(visits)), Send.node_key == missing[0].node_key)
        ):
            if walk_id is not None and visits.get(walk_id) == visit:
                sent.setdefault(walk_id, send_id)
        batch.counts["send_conflicts"] += len(missing)
    for w in going:
        w.last_send_id = sent.get(w.id, w.last_send_id)
        w.leave(plan, "next", now)


def _insert_sends(batch: Batch, walks: list[Walk], chosen: dict[int, tuple[str, int]]) -> dict[int, int]:
    """Ledger rows for these walks at their node and visit, each with its (variant key, template version);
    returns walk id -> new send id."""
    now, session = batch.now, batch.session
    node = walks[0].node_key
    if batch.postgres:
        result = session.execute(
            text(
                "INSERT INTO sends (contact_id, journey_enrolment_id, node_key, visit, template_version_id, variant,"
                " status, attempts, possible_duplicate, error, created_at, enqueued_at)"
                " SELECT c, e, :node, v, tv, k, 'queued', 0, false, '', :now, :now"
                " FROM unnest(CAST(:c AS integer[]), CAST(:e AS integer[]), CAST(:v AS integer[]),"
                " CAST(:tv AS integer[]), CAST(:k AS varchar[])) AS t(c, e, v, tv, k)"
                " ON CONFLICT DO NOTHING RETURNING id, journey_enrolment_id"
            ),
            {"node": node, "now": now, "c": pg_array([w.contact_id for w in walks]),
             "e": pg_array([w.id for w in walks]), "v": pg_array([w.visit for w in walks]),
             "tv": pg_array([chosen[w.id][1] for w in walks]), "k": pg_array([chosen[w.id][0] for w in walks])},
        )
        rows = [(int(a), int(b)) for a, b in result]
    else:
        rows = []
        values = [{"contact_id": w.contact_id, "journey_enrolment_id": w.id, "node_key": node, "visit": w.visit,
                   "template_version_id": chosen[w.id][1], "variant": chosen[w.id][0],
                   "status": SendStatus.QUEUED, "attempts": 0,
                   "possible_duplicate": False, "error": "", "created_at": now, "enqueued_at": now}
                  for w in walks]
        for start in range(0, len(values), 500):
            stmt = (dialect_insert(session, Send).values(values[start:start + 500]).on_conflict_do_nothing()
                    .returning(Send.id, Send.journey_enrolment_id))
            rows.extend((int(a), int(b)) for a, b in session.execute(stmt))
    batch.send_ids.extend(send_id for send_id, _ in rows)
    batch.counts["planned"] += len(rows)
    return {walk_id: send_id for send_id, walk_id in rows}


# ------------------------------------------------------------------ wait
def _short(walk: Walk, span: timedelta) -> timedelta:
    return min(span, TEST_WAIT) if walk.test else span


def _run_wait(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    now = batch.now
    spec = data.get("wait") or {}
    key = str((spec.get("date") or {}).get("attribute") or "")
    dates = _attribute_values(batch.session, key, [w for w in walks if not _armed(w)]) if key else {}
    for w in walks:
        if _armed(w):
            w.leave(plan, "next", now)
            continue
        end = _wait_end(batch, w, spec, dates)
        if end is None:
            w.finish(EXITED, "no date to wait for", now, exit="exit")
            batch.counts["exited_no_date"] += 1
        elif end <= now:
            w.leave(plan, "next", now)
        else:
            w.hold(end)


def _armed(w: Walk) -> bool:
    return w.due_at is not None and w.due_at > w.node_entered_at


def _guarding_window(plan: Plan, key: str) -> dict[str, Any] | None:
    """The weekday / hour window of the wait that leads straight into send node `key`, when every edge into
    it comes from such waits with one window (a sequence step's send window, linear.py, or "wait until
    weekdays 9-18, then send" on the canvas); else None. A frequency-cap hold at the send then ends at the
    window's next opening after the cap frees a slot, as the sequence planner did: the walk waited for the
    window to mail inside it."""
    windows = []
    for (source, _exit), target in plan.graph.edges.items():
        if target != key:
            continue
        node = plan.node(source)
        spec = node.data.get("wait") if node is not None and node.type == "wait" else None
        if not isinstance(spec, dict) or not isinstance(spec.get("window"), dict):
            return None
        windows.append(spec["window"])
    if not windows or any(w != windows[0] for w in windows):
        return None
    return windows[0]


def _attribute_values(session: Session, key: str, walks: list[Walk]) -> dict[int, Any]:
    """One attribute of these walks' contacts, as text (a date wait's date): contact id -> value."""
    if not walks:
        return {}
    value = json_text(Contact.attributes, literal(key), literal(f'$."{key}"'))
    return dict(session.execute(select(Contact.id, value).where(
        among(session, Contact.id, sorted({w.contact_id for w in walks})))).all())


def _wait_end(batch: Batch, w: Walk, spec: dict[str, Any], dates: dict[int, Any]) -> datetime | None:
    if "minutes" in spec:
        return w.node_entered_at + _short(w, timedelta(minutes=int(spec["minutes"])))
    if "window" in spec:
        window = spec["window"]
        opening = next_window_opening(batch.now, batch.zone(w), str(window.get("days") or ""),
                                      window.get("start_hour"), window.get("end_hour"))
        return min(opening, batch.now + TEST_WAIT) if w.test else opening
    if "date" in spec:
        rule = spec["date"]
        raw = dates.get(w.contact_id) if "attribute" in rule else w.context.get(rule.get("event_property", ""))
        day = parse_day(raw)
        if day is None:
            return None
        moment = local_moment(day + timedelta(days=int(rule.get("offset_days", 0))), int(rule.get("hour", 9)),
                              batch.zone(w))
        return min(moment, batch.now + TEST_WAIT) if w.test else moment
    return w.node_entered_at


_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")


def parse_day(value: Any) -> date | None:
    """The calendar day of a stored date ("2026-12-01", "2026-12-01T18:00:00+09:00"); None if there is none."""
    if not isinstance(value, str):
        return None
    match = _DAY.match(value)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def local_moment(day: date, hour: int, zone: Any) -> datetime:
    """`hour` o'clock of `day` in `zone`, as an aware datetime (dates of waits and date triggers)."""
    return datetime.combine(day, time(hour), tzinfo=zone)


# ------------------------------------------------------------------ wait_for
def _run_wait_for(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    now = batch.now
    until = data.get("until") or {}
    timeout = timedelta(minutes=int((data.get("timeout") or {}).get("minutes", 0)))
    fresh = []
    for w in walks:
        if w.waiting:  # armed, and the timeout came first
            w.waiting = False
            w.leave(plan, "timeout", now)
            batch.counts["timed_out"] += 1
        else:
            fresh.append(w)
    if not fresh:
        return
    already = already_happened(batch.session, until, fresh)
    for w in fresh:
        if w.id in already:
            w.leave(plan, "happened", now, detail="already")
            batch.counts["happened"] += 1
            continue
        if not timeout:
            w.hold(None, waiting=True)
            continue
        end = w.node_entered_at + _short(w, timeout)
        if end <= now:
            w.leave(plan, "timeout", now)
            batch.counts["timed_out"] += 1
        else:
            w.hold(end, waiting=True)


def already_happened(session: Session, until: dict[str, Any], walks: list[Walk]) -> set[int]:
    """Walks for which what a wait_for node waits for is already true on entry: a human open / click of
    the watched mail (a past event or form submission does not count: those are awaited)."""
    kind = until.get("kind")
    if kind == "stage":
        return {w.id for w in walks if w.stage == until.get("stage")}
    if kind not in ("open", "click"):
        return set()
    kinds = [HitKind.CLICK] if kind == "click" else [HitKind.OPEN, HitKind.CLICK]
    query = (
        select(Send.journey_enrolment_id).join(Hit, Hit.send_id == Send.id)
        .where(among(session, Send.journey_enrolment_id, [w.id for w in walks]),
               Send.node_key == until.get("node"), Hit.kind.in_(kinds), Hit.classification == HitClass.HUMAN)
    )
    if kind == "click" and until.get("url"):
        query = query.join(Link, Link.id == Hit.link_id).where(Link.url == until["url"])
    return {i for i in session.scalars(query.distinct()) if i is not None}


# ------------------------------------------------------------------ branch and split
def _run_branch(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    now, session = batch.now, batch.session
    left = list(walks)
    for branch in data.get("branches") or []:
        if not left:
            break
        condition = branch.get("condition") or {}
        if "previous_mail" in condition:
            matched = human_engaged(session, [w.last_send_id for w in left if w.last_send_id],
                                    clicked=condition["previous_mail"] == "clicked")
            hits = {w.id for w in left if w.last_send_id in matched}
        else:
            try:
                where = compile_rules(condition.get("rules") or {}, now)
            except ValueError as exc:  # SegmentError: the rules no longer compile
                raise JourneyBroken(f"branch {branch.get('key')!r}: {exc}") from exc
            contacts = set(session.scalars(
                select(Contact.id).where(among(session, Contact.id, sorted({w.contact_id for w in left})), where)))
            hits = {w.id for w in left if w.contact_id in contacts}
        label = str(branch.get("label") or branch["key"])
        for w in left:
            if w.id in hits:
                w.leave(plan, str(branch["key"]), now, detail=label)
        left = [w for w in left if w.id not in hits]
    for w in left:
        w.leave(plan, "else", now)


def human_engaged(session: Session, send_ids: list[int], *, clicked: bool) -> set[int]:
    """Which of these mails a person opened (a click implies an open) or clicked: human hits only."""
    if not send_ids:
        return set()
    kinds = [HitKind.CLICK] if clicked else [HitKind.OPEN, HitKind.CLICK]
    return {int(i) for i in session.scalars(
        select(Hit.send_id).where(among(session, Hit.send_id, sorted(set(send_ids))), Hit.kind.in_(kinds),
                                  Hit.classification == HitClass.HUMAN).distinct())}


def _run_split(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    paths = [(str(p["key"]), int(p["percent"])) for p in data.get("paths") or []]
    if not paths:
        raise JourneyBroken("a split without paths")
    keys, weights = [k for k, _ in paths], [p for _, p in paths]
    for w in walks:
        key = batch.rng.choices(keys, weights)[0]
        w.leave(plan, key, batch.now, detail=f"split path {key}")


def _run_end(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    for w in walks:
        w.finish(COMPLETED, "", batch.now, exit="end")


def _run_action(batch: Batch, plan: Plan, data: dict[str, Any], walks: list[Walk]) -> None:
    run_action(batch, plan, data.get("action") or {}, walks)
    for w in walks:
        if w.active:
            w.leave(plan, "next", batch.now)


_RUNNERS = {
    "send": _run_send, "wait": _run_wait, "wait_for": _run_wait_for, "branch": _run_branch,
    "split": _run_split, "action": _run_action, "end": _run_end,
}
