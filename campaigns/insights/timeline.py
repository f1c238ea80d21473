"""A contact's story on one timeline: the contact page's "what happened", newest first, in the account's zone.

`contact_timeline(session, contact_id, zone, before=None, limit=50)` answers one page of items:
- mails sent (or queued, failed, skipped), named by subject and by the campaign that sent them;
- opens and clicks, each marked human, machine open (an image proxy fetching the pixel) or scanner (a
  security gateway following the links), as campaigns.engagement.classify decided when the hit came in;
- form submissions (the form's name and whether it was confirmed), events (API and others: unsubscribed,
  bounced, page_viewed, ...), stage changes and score changes with their causes in words;
- website visits (people only, from the tracking snippet): the page's title, and its address.

The words are English message keys with %(name)s placeholders (`TimelineItem.text` and `.params`), in the
catalogue style of campaigns.i18n: the page translates them with `_()`, the export keeps the English.
"opened 「%(mail)s」" with mail = the subject is how the score ledger's "+5" reads as a cause.

Cost: a contact with 10,000 hits must not make the page slow. Each source is read with ONE indexed query
(contact_id, time) limited to `limit + 1` rows past the cursor, and the sources are merged in Python;
the names those rows point at (subjects, forms, rules, links) are fetched in one query per kind for the
page's ids only. The cursor is the last item's (time, kind rank, id): the next page asks every source
for what sorts strictly after it, so items that share a timestamp are neither lost nor shown twice.

Also here: `contact_programs`, where the contact is in each sequence and journey and what comes next.
Request-free: views and the export call these with the account's zone; nothing is translated here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from campaigns.models import (
    Broadcast,
    Enrollment,
    EnrollmentStatus,
    Event,
    Form,
    FormSubmission,
    Hit,
    HitKind,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyVersion,
    Link,
    RuleKind,
    ScoreEntry,
    ScoringRule,
    Send,
    Sequence,
    StageChange,
    Step,
    Template,
    TemplateVersion,
    WebVisit,
)
from campaigns.models.tracking import HitClass

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

# At one instant, the consequence above its cause (newest first): a stage change above the score change
# that made it, the score change above the open that earned it, the open above the mail.
KIND_RANK = {"sent": 1, "open": 2, "click": 3, "visit": 4, "form": 5, "event": 6, "score": 7, "stage": 8}
FORM_EVENT = "form_submitted"  # campaigns.leads.forms.EVENT_NAME: shown as the form submission itself
_TEMPLATE_CODE = re.compile(r"{{|{%")


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page ended: the last item's UTC time (microseconds), kind rank and row id."""

    micros: int
    rank: int
    row_id: int

    def token(self) -> str:
        """The cursor as it travels in a URL: three ASCII numbers joined by dots."""
        return f"{self.micros}.{self.rank}.{self.row_id}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """A cursor from `token()`, or None for anything else (a hand-edited URL starts from the top)."""
        if not token or len(token) > 60:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
            return None
        micros, rank, row_id = (int(p) for p in parts)
        if rank not in KIND_RANK.values() or row_id > 2**63 or micros > 253402300799 * 10**6:
            return None
        return cls(micros, rank, row_id)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.micros / 10**6, UTC)


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


@dataclass
class TimelineItem:
    """One line of the story. `text` is an English message key, filled from `params` (translate both)."""

    at: datetime  # in the account's zone
    kind: str  # sent, open, click, form, event, stage, score
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # a second English key: the campaign, the link, the cause
    detail_params: dict[str, Any] = field(default_factory=dict)
    mark: str = ""  # opens and clicks: human, machine_open or scanner (HitClass values)
    points: int | None = None  # score changes: signed points
    status: str = ""  # sends: SendStatus value; forms: SubmissionStatus value
    row_id: int = 0

    @property
    def cursor(self) -> Cursor:
        return Cursor(_micros(self.at), KIND_RANK[self.kind], self.row_id)


@dataclass
class TimelinePage:
    items: list[TimelineItem]
    next_cursor: Cursor | None  # None on the last page
    zone: str  # the IANA name every `at` is in


def _after(cursor: Cursor | None, kind: str, time_col: Any, id_col: Any) -> ColumnElement[bool]:
    """Rows of one source that sort strictly after the cursor in (time desc, rank desc, id desc)."""
    if cursor is None:
        return true()
    at, rank = cursor.at, KIND_RANK[kind]
    if rank < cursor.rank:  # at the cursor's instant this kind comes later: its rows at that time are next
        return time_col <= at
    if rank > cursor.rank:
        return time_col < at
    return or_(time_col < at, and_(time_col == at, id_col < cursor.row_id))


def _mail_name(subject: str | None, template_name: str | None) -> str:
    """What a person calls a mail: its subject, or the template's name when the subject has merge code."""
    if subject and not _TEMPLATE_CODE.search(subject):
        return subject
    return template_name or subject or ""


def _campaign(seq_name: str | None, position: int | None, broadcast_name: str | None) -> tuple[str, dict[str, Any]]:
    if seq_name:
        return "sequence %(sequence)s, step %(step)s", {"sequence": seq_name, "step": position}
    if broadcast_name:
        return "broadcast %(broadcast)s", {"broadcast": broadcast_name}
    return "", {}


def _mail_names(session: Session, send_ids: Iterable[int]) -> dict[int, tuple[str, str, dict[str, Any]]]:
    """send id -> (mail name, campaign key, campaign params), one query for a page's sends."""
    ids = sorted(set(send_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Send.id, TemplateVersion.subject, Template.name, Sequence.name, Step.position, Broadcast.name)
        .join(TemplateVersion, TemplateVersion.id == Send.template_version_id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .outerjoin(Step, Step.id == Send.step_id)
        .outerjoin(Sequence, Sequence.id == Step.sequence_id)
        .outerjoin(Broadcast, Broadcast.id == Send.broadcast_id)
        .where(Send.id.in_(ids))
    ).all()
    out = {}
    for send_id, subject, template_name, seq_name, position, broadcast_name in rows:
        key, params = _campaign(seq_name, position, broadcast_name)
        out[send_id] = (_mail_name(subject, template_name), key, params)
    return out


# ------------------------------------------------------------------ one reader per source
Reader = Callable[[Session, int, Cursor | None, int], list[TimelineItem]]


def _sends(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    # A mail's moment is when it went, or when it was planned if it has not gone (queued, failed, skipped).
    at = func.coalesce(Send.sent_at, Send.created_at)
    rows = session.execute(
        select(Send.id, Send.status, at.label("at"), Send.variant)
        .where(Send.contact_id == contact_id, _after(cursor, "sent", at, Send.id))
        .order_by(at.desc(), Send.id.desc()).limit(limit)
    ).all()
    names = _mail_names(session, (r.id for r in rows))
    items = []
    for r in rows:
        mail, key, params = names.get(r.id, ("", "", {}))
        status = str(r.status)
        text = "mail sent: 「%(mail)s」" if status == "sent" else "mail 「%(mail)s」"
        items.append(TimelineItem(r.at, "sent", text, {"mail": mail}, key, params, status=status, row_id=r.id))
    return items


def _hits(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    rows = session.execute(
        select(Hit.id, Hit.kind, Hit.send_id, Hit.occurred_at, Hit.classification, Link.url)
        .outerjoin(Link, Link.id == Hit.link_id)
        # ix_tracking_hits_contact_time: a contact with 10,000 hits reads `limit` index entries
        .where(Hit.contact_id == contact_id, _hit_after(cursor))
        .order_by(Hit.occurred_at.desc(), Hit.id.desc()).limit(limit)
    ).all()
    names = _mail_names(session, (r.send_id for r in rows))
    items = []
    for r in rows:
        mail = names.get(r.send_id, ("", "", {}))[0]
        if r.kind == HitKind.CLICK:
            items.append(TimelineItem(r.occurred_at, "click", "clicked a link in 「%(mail)s」", {"mail": mail},
                                      "%(url)s" if r.url else "", {"url": r.url} if r.url else {},
                                      mark=str(r.classification), row_id=r.id))
        else:
            items.append(TimelineItem(r.occurred_at, "open", "opened 「%(mail)s」", {"mail": mail},
                                      mark=str(r.classification), row_id=r.id))
    return items


def _hit_after(cursor: Cursor | None) -> ColumnElement[bool]:
    # Opens and clicks come from one table (one query, one index range) but sort as two kinds at one
    # instant; a hit's rank is its kind's, so the row condition depends on the row's kind.
    if cursor is None:
        return true()
    return or_(
        and_(Hit.kind == HitKind.OPEN, _after(cursor, "open", Hit.occurred_at, Hit.id)),
        and_(Hit.kind == HitKind.CLICK, _after(cursor, "click", Hit.occurred_at, Hit.id)),
    )


def _forms(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    rows = session.execute(
        select(FormSubmission.id, FormSubmission.status, FormSubmission.submitted_at, Form.name)
        .join(Form, Form.id == FormSubmission.form_id)
        .where(FormSubmission.contact_id == contact_id,
               _after(cursor, "form", FormSubmission.submitted_at, FormSubmission.id))
        .order_by(FormSubmission.submitted_at.desc(), FormSubmission.id.desc()).limit(limit)
    ).all()
    return [TimelineItem(r.submitted_at, "form", "「%(form)s」 form submitted", {"form": r.name},
                         status=str(r.status), row_id=r.id) for r in rows]


def _events(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    rows = session.execute(
        select(Event.id, Event.name, Event.source, Event.occurred_at)
        # a form's own event repeats its submission (shown from form_submissions, with the form's name)
        .where(Event.contact_id == contact_id, ~and_(Event.name == FORM_EVENT, Event.source == "form"),
               _after(cursor, "event", Event.occurred_at, Event.id))
        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    ).all()
    return [TimelineItem(r.occurred_at, "event", "event %(event)s", {"event": r.name},
                         "from %(source)s", {"source": r.source}, row_id=r.id) for r in rows]


def _visits(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    # People only: a bot or prefetcher that carried the visitor's id is not something the lead did.
    rows = session.execute(
        select(WebVisit.id, WebVisit.occurred_at, WebVisit.title, WebVisit.host, WebVisit.path)
        .where(WebVisit.contact_id == contact_id, WebVisit.classification == HitClass.HUMAN,
               _after(cursor, "visit", WebVisit.occurred_at, WebVisit.id))
        .order_by(WebVisit.occurred_at.desc(), WebVisit.id.desc()).limit(limit)
    ).all()
    return [TimelineItem(r.occurred_at, "visit", "visited 「%(page)s」", {"page": r.title.strip() or r.path or "/"},
                         "page %(address)s", {"address": f"{r.host}{r.path}"}, row_id=r.id) for r in rows]


_SCORE_UP = re.compile(r"^score (-?\d+) >= (-?\d+)$")
_SCORE_DOWN = re.compile(r"^score (-?\d+) < (-?\d+)$")
_HOT_LEAD = re.compile(r"^hot lead \(score (-?\d+) >= (-?\d+)\)$")


def stage_cause(cause: str, detail: str) -> tuple[str, dict[str, Any]]:
    """A stage change's cause in words (an English key and its values), from campaigns.scoring.stages' codes."""
    for pattern, key in ((_SCORE_UP, "score %(score)s reached %(threshold)s"),
                         (_SCORE_DOWN, "score %(score)s fell below %(threshold)s"),
                         (_HOT_LEAD, "hot lead: score %(score)s reached %(threshold)s")):
        match = pattern.match(detail or "")
        if match:
            return key, {"score": match.group(1), "threshold": match.group(2)}
    if cause == "rule":
        return "scoring rule %(rule)s", {"rule": detail}
    words = {
        "sales": "set by sales", "api": "set through the API", "decay": "score decayed",
        "recompute": "scores recomputed", "rule_removed": "a scoring rule was removed", "import": "imported",
        "score_threshold": "score threshold",
    }.get(cause, cause)
    if detail:
        return f"{words}: %(detail)s" if cause in ("sales", "api") else words, {"detail": detail}
    return words, {}


def _stages(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    rows = session.scalars(
        select(StageChange)
        .where(StageChange.contact_id == contact_id,
               _after(cursor, "stage", StageChange.changed_at, StageChange.id))
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc()).limit(limit)
    ).all()
    items = []
    for r in rows:
        key, params = stage_cause(r.cause, r.detail)
        text = "stage %(old)s → %(new)s" if r.from_stage else "stage %(new)s"
        items.append(TimelineItem(r.changed_at, "stage", text, {"old": r.from_stage, "new": r.to_stage},
                                  key, params, row_id=r.id))
    return items


def _scores(session: Session, contact_id: int, cursor: Cursor | None, limit: int) -> list[TimelineItem]:
    rows = session.execute(
        select(ScoreEntry.id, ScoreEntry.points, ScoreEntry.source, ScoreEntry.source_ref, ScoreEntry.occurred_at,
               func.coalesce(ScoringRule.name, ScoreEntry.cause).label("name"), ScoringRule.kind,
               ScoringRule.inactivity_days)
        .outerjoin(ScoringRule, ScoringRule.id == ScoreEntry.rule_id)  # journey points have no rule
        .where(ScoreEntry.contact_id == contact_id,
               _after(cursor, "score", ScoreEntry.occurred_at, ScoreEntry.id))
        .order_by(ScoreEntry.occurred_at.desc(), ScoreEntry.id.desc()).limit(limit)
    ).all()
    causes = _score_causes(session, rows)
    items = []
    for r in rows:
        key, params = causes.get(r.id, ("scoring rule %(rule)s", {"rule": r.name}))
        rule = ("scoring rule %(rule)s", {"rule": r.name}) if r.source != "journey" else ("", {})
        items.append(TimelineItem(r.occurred_at, "score", key, params, *rule, points=r.points, row_id=r.id))
    return items


def _ids(refs: Iterable[str]) -> list[int]:
    return [int(ref) for ref in refs if ref.isascii() and ref.isdigit() and len(ref) < 19]


def _score_causes(session: Session, rows: Iterable[Any]) -> dict[int, tuple[str, dict[str, Any]]]:
    """Ledger entry id -> its cause in words: what was opened or clicked, which form, which event."""
    hit_ids = _ids(r.source_ref for r in rows if r.source == "hit")
    event_ids = _ids(r.source_ref for r in rows if r.source == "event")
    visit_ids = _ids(r.source_ref for r in rows if r.source == "visit")
    visits = {i: path for i, path in session.execute(
        select(WebVisit.id, WebVisit.path).where(WebVisit.id.in_(visit_ids) if visit_ids else false()))}
    hits = {h.id: h for h in session.execute(
        select(Hit.id, Hit.kind, Hit.send_id).where(Hit.id.in_(hit_ids) if hit_ids else false()))}
    events = {e.id: e for e in session.execute(
        select(Event.id, Event.name, Event.properties).where(Event.id.in_(event_ids) if event_ids else false()))}
    mails = _mail_names(session, (h.send_id for h in hits.values()))
    out: dict[int, tuple[str, dict[str, Any]]] = {}
    for r in rows:
        ref = int(r.source_ref) if r.source_ref.isascii() and r.source_ref.isdigit() and len(r.source_ref) < 19 else 0
        if r.source == "hit" and ref in hits:
            hit = hits[ref]
            mail = mails.get(hit.send_id, ("", "", {}))[0]
            key = "clicked a link in 「%(mail)s」" if hit.kind == HitKind.CLICK else "opened 「%(mail)s」"
            out[r.id] = (key, {"mail": mail})
        elif r.source == "event" and ref in events:
            event = events[ref]
            form = (event.properties or {}).get("form") if event.name == FORM_EVENT else None
            if isinstance(form, str) and form:
                out[r.id] = ("「%(form)s」 form submitted", {"form": form})
            else:
                out[r.id] = ("event %(event)s", {"event": event.name})
        elif r.source == "visit" and ref in visits:
            out[r.id] = ("visited %(page)s", {"page": visits[ref] or "/"})
        elif r.source == "journey":  # a journey's add_score node: its cause names the journey and node
            out[r.id] = ("journey %(cause)s", {"cause": r.name})
        elif r.source == "bounce":
            out[r.id] = ("the address bounced", {})
        elif r.source == "idle" or r.kind == RuleKind.INACTIVITY:
            out[r.id] = ("no activity for %(days)s days", {"days": r.inactivity_days})
    return out


READERS: tuple[Reader, ...] = (_sends, _hits, _visits, _forms, _events, _stages, _scores)


def contact_timeline(session: Session, contact_id: int, zone: ZoneInfo, *, before: Cursor | None = None,
                     limit: int = PAGE_SIZE) -> TimelinePage:
    """One page of a contact's timeline, newest first, times in `zone` (contact page, export).

    `before` is the previous page's `next_cursor`. Each source reads at most limit + 1 rows past it; the
    merged list keeps the newest `limit`, and a next cursor exists when anything was left over."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    merged: list[TimelineItem] = []
    for read in READERS:
        merged.extend(read(session, contact_id, before, limit + 1))
    merged.sort(key=lambda item: item.cursor, reverse=True)
    page, more = merged[:limit], len(merged) > limit
    for item in page:
        at = item.at if item.at.tzinfo else item.at.replace(tzinfo=UTC)
        item.at = at.astimezone(zone)
    return TimelinePage(page, page[-1].cursor if more and page else None, zone.key)


# ------------------------------------------------------------------ where the contact is now
@dataclass
class Program:
    """One sequence (or journey) the contact is or was in, where it stands and what comes next."""

    kind: str  # sequence | journey
    name: str
    status: str  # EnrollmentStatus / JourneyEnrolmentStatus value
    enrolled_at: datetime
    position: str = ""  # sequences: "2 / 3"; journeys: the node's label
    next_text: str = ""  # English key: what comes next
    next_params: dict[str, Any] = field(default_factory=dict)
    next_at: datetime | None = None
    exit_reason: str = ""


def contact_programs(session: Session, contact_id: int, zone: ZoneInfo) -> list[Program]:
    """The contact's sequence enrolments, active first then newest, with the next step and when (contact page)."""
    rows = session.execute(
        select(Enrollment, Sequence.name)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.contact_id == contact_id)
        .order_by(Enrollment.id.desc()).limit(100)
    ).all()
    seq_ids = {e.sequence_id for e, _ in rows}
    steps: dict[int, list[tuple[int, str]]] = {}
    if seq_ids:
        for seq_id, position, name in session.execute(
            select(Step.sequence_id, Step.position, Template.name)
            .join(Template, Template.id == Step.template_id)
            .where(Step.sequence_id.in_(seq_ids), Step.deleted.is_(False))
            .order_by(Step.sequence_id, Step.position)
        ):
            steps.setdefault(seq_id, []).append((position, name))
    out = []
    for enrollment, name in rows:
        live = steps.get(enrollment.sequence_id, [])
        program = Program("sequence", name, str(enrollment.status), _local(enrollment.enrolled_at, zone),
                          exit_reason=enrollment.exit_reason or "")
        if live:
            program.position = f"{min(enrollment.next_position, len(live))} / {len(live)}"
        if enrollment.status == EnrollmentStatus.ACTIVE:
            upcoming = [n for p, n in live if p >= enrollment.next_position]
            if upcoming:
                program.next_text, program.next_params = "step %(step)s: 「%(mail)s」", {
                    "step": enrollment.next_position, "mail": upcoming[0]}
                program.next_at = _local(enrollment.next_due_at, zone) if enrollment.next_due_at else None
            else:
                program.next_text = "no more steps"
        out.append(program)
    out += _journeys(session, contact_id, zone)
    out.sort(key=lambda p: p.status != "active")  # stable: newest first within each group
    return out


# What a contact is doing at a journey node, by the node's type (docs/journeys.md).
NODE_WORDS = {
    "send": "mail 「%(node)s」", "wait": "waiting", "wait_for": "waiting for the contact to act",
    "branch": "at a branch", "split": "at a split", "action": "at an action", "end": "at the end",
}


def _journeys(session: Session, contact_id: int, zone: ZoneInfo) -> list[Program]:
    """The contact's journey walks: the node it is at, in words, and when the engine looks at it next."""
    rows = session.execute(
        select(JourneyEnrolment, Journey.name).join(Journey, Journey.id == JourneyEnrolment.journey_id)
        .where(JourneyEnrolment.contact_id == contact_id).order_by(JourneyEnrolment.id.desc()).limit(100)
    ).all()
    graphs = {v.id: v.graph or {} for v in session.scalars(
        select(JourneyVersion).where(JourneyVersion.id.in_({e.version_id for e, _ in rows})))} if rows else {}
    out = []
    for walk, name in rows:
        nodes = {n.get("id"): n for n in graphs.get(walk.version_id, {}).get("nodes", []) if isinstance(n, dict)}
        node = nodes.get(walk.node_key, {})
        program = Program("journey", name, str(walk.status), _local(walk.enrolled_at, zone),
                          exit_reason=walk.exit_reason or "")
        if walk.status == JourneyEnrolmentStatus.ACTIVE:
            program.next_text = NODE_WORDS.get(str(node.get("type", "")), "at %(node)s")
            program.next_params = {"node": str(node.get("name") or walk.node_key)}
            program.next_at = _local(walk.due_at, zone) if walk.due_at else None
        out.append(program)
    return out


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)
