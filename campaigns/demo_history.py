"""Ninety days of believable history for the demo (campaigns.demo.seed_demo calls it once, in its transaction).

Contract: `seed_history(session, settings, contacts, journey, now=..., seed=...)` takes the demo's fresh
contacts and its published journey and gives them a past: when and how each lead arrived (import, trade
show, webinar, forms), the events they left, the newsletters and an A/B-tested seminar invitation they got
with human and machine opens and clicks (tracking_hits rows classified as the hit writer would, and the
hourly roll-ups built by the writer's own `rollups.contribution`), walks through the journey at its
different nodes with their path log and mails, a few recent website visits, and scores and stage moves
made by the scoring engine itself (`score_new`, run once per simulated week, so the stage timeline has
real causes and dates); a few MQLs then become SQLs and customers by the sales team's hand.

Deterministic: one `random.Random(seed)`, times relative to `now`. Set-based: every table is written with
one executemany per week (Core inserts, RETURNING the send ids), so it stays within a few seconds on
SQLite and PostgreSQL (bench/bench_demo.py). Request-free; the caller commits.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from campaigns.automation import service as journeys
from campaigns.config import Settings
from campaigns.delivery.gallery import create_from_starter, starter
from campaigns.engagement.rollups import HitRow, apply_rollup_delta, contribution
from campaigns.experiments.decision import evaluate
from campaigns.experiments.setup import resolve_versions
from campaigns.models import (
    ABAssignment,
    ABKind,
    ABMetric,
    ABMode,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Contact,
    Event,
    Hit,
    HitClass,
    HitKind,
    ImportJob,
    ImportStatus,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStep,
    Link,
    ScoringRule,
    Send,
    SendStatus,
    Stage,
    StageChange,
    Template,
)
from campaigns.models.scoring import RuleKind
from campaigns.models.web import WebVisit, WebVisitor
from campaigns.scoring.engine import score_new
from campaigns.scoring.rules import get_settings

DAYS = 90
FORM_NAME = "ホワイトペーパー請求"  # the demo's form (campaigns.demo); its submissions carry {form: name}
CONSULTATION_FORM = "個別相談"  # the consultation request's form: its event is the demo journey's goal
TRADE_SHOW = "Japan IT Week 秋"
WEBINARS = ("リードナーチャリング入門ウェビナー", "スコアリング実践ウェビナー")
_TOKYO = ZoneInfo("Asia/Tokyo")
_BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0 Safari/537.36")
_APPLE_PROXY = "Mozilla/5.0"
_SCANNER = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)"
# (path, title) of the demo company's site: what the recent-visitors page and the pricing rule read.
_PAGES = [("/pricing", "料金プラン"), ("/cases/manufacturing", "導入事例：製造業"), ("/features", "機能一覧"),
          ("/blog/lead-scoring", "スコアリングの始め方"), ("/", "Nurture Demo"), ("/pricing/enterprise", "エンタープライズ")]
_ORGS = ["ミライ製作所", "東京データ株式会社", "Northwind KK", "グローバル商事"]


@dataclass
class _Week:
    """Everything that happened in one simulated week, written together before that week's scoring run."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sends: list[tuple[dict[str, Any], list[HitRow]]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)


class _History:
    """The generator: a random stream, the week buckets, and unique ids for hits and visits."""

    def __init__(self, now: datetime, seed: int) -> None:
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.rng = random.Random(seed)
        self.weeks = [_Week() for _ in range(DAYS // 7 + 2)]
        self.serial = 0
        self.mails = 0

    def week(self, t: datetime) -> _Week:
        return self.weeks[max(0, min(len(self.weeks) - 1, (t - self.start).days // 7))]

    def event_id(self) -> str:
        self.serial += 1
        return f"demo{self.serial:012d}"

    def event(self, contact_id: int, name: str, t: datetime, source: str, **props: Any) -> None:
        if t < self.now:
            self.week(t).events.append({"contact_id": contact_id, "name": name, "properties": props,
                                        "source": source, "occurred_at": t, "created_at": t})

    def mail(self, send: dict[str, Any], links: list[int], keen: float) -> None:
        """One delivered mail and what its recipient (and the machines on the way) did with it."""
        rng, sent = self.rng, send["sent_at"]
        hits: list[HitRow] = []

        def hit(kind: HitKind, t: datetime, cls: HitClass, reason: str, agent: str, network: str = "",
                link: int | None = None) -> None:
            if t < self.now:
                hits.append(HitRow(self.event_id(), kind, 0, link, t, agent, "203.0.113.0", network, cls, reason))

        if rng.random() < 0.17:  # Apple Mail Privacy Protection fetches the pixel at delivery
            hit(HitKind.OPEN, sent + timedelta(seconds=rng.randint(20, 300)), HitClass.MACHINE_OPEN,
                "proxy_prefetch", _APPLE_PROXY, "apple")
        if links and rng.random() < 0.05:  # a security gateway follows a link before the reader does
            hit(HitKind.CLICK, sent + timedelta(seconds=rng.randint(2, 40)), HitClass.SCANNER, "click_at_delivery",
                _SCANNER, "microsoft", rng.choice(links))
        if rng.random() < 0.18 + 0.65 * keen:
            opened = sent + timedelta(minutes=min(4 * 24 * 60, int(rng.expovariate(1 / 360))) + 2)
            hit(HitKind.OPEN, opened, HitClass.HUMAN, "", _BROWSER)
            if links and rng.random() < 0.1 + 0.45 * keen:
                for n, link in enumerate(rng.sample(links, min(len(links), rng.choice((1, 1, 2))))):
                    hit(HitKind.CLICK, opened + timedelta(minutes=1 + 3 * n + rng.randint(0, 5)), HitClass.HUMAN,
                        "", _BROWSER, link=link)
        self.mails += 1
        self.week(sent).sends.append((send, hits))


def _tokyo(day: datetime, hour: int, minute: int = 0) -> datetime:
    """That day at hour:minute in Tokyo, as UTC (the demo account's clock)."""
    local = day.astimezone(_TOKYO).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local.astimezone(day.tzinfo)


def _links(session: Session, version_id: int) -> list[int]:
    return list(session.scalars(select(Link.id).where(Link.template_version_id == version_id,
                                                      Link.tracked.is_(True), Link.honeypot.is_(False))))


def _rules(session: Session) -> None:
    """The demo's scoring model (the MQL preset's spirit): engagement warms, intent makes an MQL."""
    settings = get_settings(session)
    settings.warm_at, settings.hot_at, settings.mql_when_hot, settings.half_life_days = 20, 40, False, 30
    session.add_all([
        ScoringRule(name="メール開封", kind=RuleKind.HUMAN_OPEN, points=4, daily_cap=1),
        ScoringRule(name="メール内リンクのクリック", kind=RuleKind.HUMAN_CLICK, points=8, daily_cap=2),
        ScoringRule(name="資料請求フォーム送信", kind=RuleKind.FORM_SUBMITTED, points=15,
                    property_key="form", property_value=FORM_NAME),
        ScoringRule(name="ウェビナー参加", kind=RuleKind.WEBINAR_ATTENDED, points=25),
        ScoringRule(name="展示会ブース来場", kind=RuleKind.CUSTOM_EVENT, event_name="trade_show_visited", points=15),
        ScoringRule(name="料金ページ閲覧", kind=RuleKind.PAGE_VISIT, points=15, daily_cap=1, link_url="/pricing*"),
        ScoringRule(name="個別相談の申し込み → MQL", kind=RuleKind.CUSTOM_EVENT, event_name="consultation_requested",
                    points=30, sets_mql=True),
    ])
    session.flush()


def _arrivals(session: Session, h: _History, contacts: list[Contact]) -> dict[int, tuple[datetime, str, float]]:
    """When and how each contact arrived, and how keen they are; the contacts' rows, the imports and the
    events of arrival. The first 20 (which the demo enrols in the journey now) asked for the whitepaper in
    the last two days."""
    rng, now = h.rng, h.now
    imported = _tokyo(now - timedelta(days=86), 11)
    show = _tokyo(now - timedelta(days=61), 10)
    webinars = (_tokyo(now - timedelta(days=40), 15), _tokyo(now - timedelta(days=12), 15))
    out: dict[int, tuple[datetime, str, float]] = {}
    for i, c in enumerate(contacts):
        if i < 20:
            t, source = now - timedelta(minutes=rng.randint(30, 2 * 24 * 60)), "whitepaper"
        elif i < 80:
            t, source = imported + timedelta(seconds=i), "csv_import"
        elif i < 140:
            t, source = show + timedelta(days=1, hours=2, seconds=i), "trade_show"
        elif i < 190:
            t, source = webinars[i % 2] - timedelta(days=rng.randint(2, 12), minutes=rng.randint(0, 600)), "webinar"
        else:
            # the forms: steadily, a little more lately (the marketing is working)
            t = now - timedelta(days=DAYS * (rng.random() ** 1.3), minutes=rng.randint(0, 600))
            source = "whitepaper" if rng.random() < 0.7 else "website_form"
        t = min(t, now - timedelta(minutes=20))
        keen = rng.random() ** 1.2
        out[c.id] = (t, source, keen)
        if source in ("whitepaper", "website_form"):
            h.event(c.id, "form_submitted", t, "form", form=FORM_NAME)
        elif source == "trade_show":
            h.event(c.id, "trade_show_visited", show + timedelta(hours=rng.randint(0, 28)), "import", show=TRADE_SHOW)
        elif source == "webinar":
            which = webinars[i % 2]
            h.event(c.id, "webinar_registered", t, "form", webinar=WEBINARS[i % 2])
            if rng.random() < 0.7:
                h.event(c.id, "webinar_attended", which + timedelta(minutes=rng.randint(0, 10)), "api",
                        webinar=WEBINARS[i % 2])
    session.execute(update(Contact), [
        {"id": cid, "created_at": t, "updated_at": t, "source": source, "consent_at": t,
         "consent_source": {"csv_import": "CSV import", "trade_show": TRADE_SHOW}.get(source, FORM_NAME)}
        for cid, (t, source, _) in out.items()
    ])
    for name, when, count in (("contacts_2024.csv", imported, 60), ("japan_it_week_badges.csv", show + timedelta(days=1), 60)):
        session.add(ImportJob(filename=name, path="", status=ImportStatus.DONE, total_rows=count, processed=count,
                              created=count, created_at=when, started_at=when, finished_at=when + timedelta(seconds=4)))
    return out


def _broadcast(session: Session, name: str, template: Template, when: datetime, status: BroadcastStatus) -> Broadcast:
    b = Broadcast(name=name, template_id=template.id, status=status, scheduled_at=when,
                  started_at=when if status is BroadcastStatus.SENT else None,
                  finished_at=when + timedelta(minutes=12) if status is BroadcastStatus.SENT else None,
                  created_at=when - timedelta(days=2))
    session.add(b)
    session.flush()
    return b


def _audience(arrivals: dict[int, tuple[datetime, str, float]], when: datetime) -> list[int]:
    return [cid for cid, (t, _, _) in arrivals.items() if t < when]


def _newsletters(session: Session, settings: Settings, h: _History,
                 arrivals: dict[int, tuple[datetime, str, float]]) -> None:
    """Fortnightly newsletters to everyone who had arrived by then."""
    item = starter("newsletter", "ja")
    assert item is not None
    template = create_from_starter(session, settings, item, "ニュースレター（月刊）")
    version = template.current_version_id
    assert version is not None
    links = _links(session, version)
    for n, days_ago in enumerate((84, 70, 56, 42, 28, 14), start=1):
        when = _tokyo(h.now - timedelta(days=days_ago), 10)
        b = _broadcast(session, f"ニュースレター 第{n}号", template, when, BroadcastStatus.SENT)
        for k, cid in enumerate(_audience(arrivals, when)):
            h.mail({"contact_id": cid, "broadcast_id": b.id, "template_version_id": version, "variant": "",
                    "sent_at": when + timedelta(seconds=2 * k)}, links, arrivals[cid][2])


def _ab_test(session: Session, settings: Settings, h: _History,
             arrivals: dict[int, tuple[datetime, str, float]]) -> None:
    """A seminar invitation whose content was A/B tested on 40% of the audience, decided, the winner sent on."""
    plain = starter("seminar_invite", "ja")
    cases = starter("case_study", "ja")
    assert plain is not None and cases is not None
    base = create_from_starter(session, settings, plain, "セミナーのご案内")
    other = create_from_starter(session, settings, cases, "セミナーのご案内（事例付き）")
    when = _tokyo(h.now - timedelta(days=47), 10)
    b = _broadcast(session, "スコアリング実践ウェビナーのご案内", base, when, BroadcastStatus.SENT)
    test = ABTest(broadcast_id=b.id, kind=ABKind.CONTENT, metric=ABMetric.OPEN, test_portion=0.4, window_hours=24,
                  mode=ABMode.AUTO, status=ABStatus.TESTING, created_at=when - timedelta(days=2), started_at=when,
                  split_closed_at=when, deadline_at=when + timedelta(hours=25), baseline_rate=0.3, min_lift=0.3)
    test.variants = [ABVariant(position=0, key="A", label="標準版", template_id=base.id),
                     ABVariant(position=1, key="B", label="事例付き", template_id=other.id)]
    session.add(test)
    session.flush()
    resolve_versions(session, test, base)
    audience = _audience(arrivals, when)
    h.rng.shuffle(audience)
    portion = audience[: int(len(audience) * 0.4)]
    test.planned_per_variant = len(portion) // 2
    week = h.week(when)
    first = len(week.sends)
    assignments = []
    for k, cid in enumerate(portion):
        v = test.variants[k % 2]
        assert v.template_version_id is not None
        assignments.append({"test_id": test.id, "contact_id": cid, "position": v.position, "due_at": when,
                            "planned": True})
        h.mail({"contact_id": cid, "broadcast_id": b.id, "template_version_id": v.template_version_id,
                "variant": v.key, "sent_at": when + timedelta(seconds=2 * k)},
               _links(session, v.template_version_id), min(1.0, arrivals[cid][2] + (0.12 if v.key == "B" else 0)))
    session.execute(insert(ABAssignment), assignments)
    # The test portion's mails and hits are written now: the decision below counts them from the ledger.
    _write_sends(session, week.sends[first:])
    del week.sends[first:]
    decided = test.deadline_at
    assert decided is not None
    decision, counts = evaluate(session, test, decided)
    record = decision.to_dict()
    record.update(counts=counts, evaluated_at=decided.isoformat())
    index = decision.send_index if decision.send_index is not None else 1
    record.update(chosen_index=index, decided_by="auto")
    test.decision, test.winner_index, test.decided_by, test.decided_at = record, index, "auto", decided
    test.status = ABStatus.DECIDED
    winner = test.variants[index]
    assert winner.template_version_id is not None
    rest = audience[len(portion):]
    test.rest_planned = len(rest)
    links = _links(session, winner.template_version_id)
    for k, cid in enumerate(rest):
        h.mail({"contact_id": cid, "broadcast_id": b.id, "template_version_id": winner.template_version_id,
                "variant": "", "sent_at": decided + timedelta(minutes=1, seconds=2 * k)}, links, arrivals[cid][2])
    b.finished_at = decided + timedelta(minutes=15)


def _journey(session: Session, h: _History, journey: Journey, arrivals: dict[int, tuple[datetime, str, float]],
             skip: set[int]) -> dict[int, tuple[datetime, datetime | None, bool]]:
    """Form leads walked the journey: the whitepaper at once, three days, a weekday window, the case study.
    Each one's walk is where its age puts it, with the path log and the mails the walk sent.

    Some keen leads asked for a consultation while they waited the three days after the whitepaper: the
    journey's goal (demo.py). As the engine does it (happenings._end_walks), their walk ended `converted` at
    the three-days node a tick after the event, the path log closing that node by the exit "goal", and the
    case study never went. Returns each walk's span (enrolled, ended or None while active, converted) for
    `_intent`, whose consultation requests must not fall inside a span the goal would have ended."""
    graph = journey.draft_graph
    template_of = {n["id"]: n.get("template_id") for n in graph["nodes"]}
    versions: dict[int, int] = {tid: vid for tid, vid in session.execute(
        select(Template.id, Template.current_version_id)).all() if vid is not None}
    paper, study = versions[template_of["whitepaper"]], versions[template_of["case-study"]]
    paper_links, study_links = _links(session, paper), _links(session, study)
    forms = sorted((t, cid) for cid, (t, source, _) in arrivals.items()
                   if source in ("whitepaper", "website_form") and cid not in skip)
    for t, cid in forms:
        journeys.enrol_contacts(session, journey, [cid], "form", now=t)
    walks = dict(session.execute(select(JourneyEnrolment.contact_id, JourneyEnrolment.id)
                                 .where(JourneyEnrolment.journey_id == journey.id,
                                        JourneyEnrolment.contact_id.in_([cid for _, cid in forms]))).all())
    version_id = journey.live_version_id
    assert version_id is not None
    moves: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []

    spans: dict[int, tuple[datetime, datetime | None, bool]] = {}
    goal = (journey.settings or {}).get("goal") or {}
    goal_event = goal.get("name") if goal.get("kind") == "event" else None

    def step(walk: int, node: str, entered: datetime, left: datetime | None, exit: str = "next",
             detail: str = "") -> None:
        if left is None:  # the node a walk is at is the walk's own; the path log holds the nodes left
            return
        steps.append({"journey_id": journey.id, "enrolment_id": walk, "version_id": version_id, "node_key": node,
                      "visit": 1, "entered_at": entered, "left_at": left, "exit": exit if left else "",
                      "detail": detail})

    for t, cid in forms:
        walk, keen = walks[cid], arrivals[cid][2]
        sent = t + timedelta(minutes=1)
        step(walk, "whitepaper", t, sent)  # the start node (enrol_contacts): left when the whitepaper went
        h.mail({"contact_id": cid, "journey_enrolment_id": walk, "node_key": "whitepaper", "visit": 1,
                "template_version_id": paper, "variant": "", "sent_at": sent}, paper_links, keen)
        waited = sent + timedelta(days=3)
        window = _next_window(waited)
        row: dict[str, Any] = {"id": walk, "visits": {"whitepaper": 1}}
        # Both draws for every walk, so the stream (and every count after) does not depend on who converts.
        # The keener the lead, the likelier: about one walk in eight over the 90 days.
        asks, after = h.rng.random() < 0.02 + 0.12 * keen, timedelta(hours=h.rng.uniform(5, 70))
        converted = sent + after
        if goal_event and asks and converted < h.now - timedelta(minutes=5):
            ended = converted + timedelta(seconds=2)  # the engine's next tick (2 s) matched the event
            reason = f"goal: {goal_event}"
            h.event(cid, goal_event, converted, "form", form=CONSULTATION_FORM)
            row.update(node_key="three-days", node_entered_at=sent, due_at=None, status=JourneyEnrolmentStatus.CONVERTED,
                       finished_at=ended, exit_reason=reason, visits={"whitepaper": 1, "three-days": 1})
            step(walk, "three-days", sent, ended, "goal", reason)
            spans[cid] = (t, ended, True)
        elif h.now < waited:
            row.update(node_key="three-days", node_entered_at=sent, due_at=waited, visits={"whitepaper": 1, "three-days": 1})
            step(walk, "three-days", sent, None)
            spans[cid] = (t, None, False)
        elif h.now < window:
            row.update(node_key="weekday", node_entered_at=waited, due_at=window,
                       visits={"whitepaper": 1, "three-days": 1, "weekday": 1})
            step(walk, "three-days", sent, waited)
            step(walk, "weekday", waited, None)
            spans[cid] = (t, None, False)
        else:
            row.update(node_key="case-study", node_entered_at=window, due_at=None, status=JourneyEnrolmentStatus.COMPLETED,
                       finished_at=window, visits={"whitepaper": 1, "three-days": 1, "weekday": 1, "case-study": 1})
            step(walk, "three-days", sent, waited)
            step(walk, "weekday", waited, window)
            step(walk, "case-study", window, window, "end")
            h.mail({"contact_id": cid, "journey_enrolment_id": walk, "node_key": "case-study", "visit": 1,
                    "template_version_id": study, "variant": "", "sent_at": window}, study_links, keen)
            spans[cid] = (t, window, False)
        row.setdefault("status", JourneyEnrolmentStatus.ACTIVE)
        row.setdefault("finished_at", None)
        row["last_send_id"] = None
        moves.append(row)
    session.execute(update(JourneyEnrolment), moves)
    if steps:
        session.execute(insert(JourneyStep), steps)
    return spans


def _next_window(t: datetime) -> datetime:
    """The first moment at or after t on a weekday between 9 and 18 in Tokyo (the journey's window node)."""
    local = t.astimezone(_TOKYO)
    for _ in range(8):
        if local.isoweekday() <= 5 and 9 <= local.hour < 18:
            return local.astimezone(t.tzinfo)
        if local.isoweekday() <= 5 and local.hour < 9:
            local = local.replace(hour=9, minute=0, second=0, microsecond=0)
            continue
        local = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    return local.astimezone(t.tzinfo)


def _intent(h: _History, arrivals: dict[int, tuple[datetime, str, float]],
            walks: dict[int, tuple[datetime, datetime | None, bool]]) -> None:
    """The keenest leads ask for a consultation some weeks in; a few of them visited the pricing page lately.

    The request is the demo journey's goal: a lead whose walk it ended already asked (`_journey`), and a
    lead still walking asks after the walk's end (inside it the engine would have converted the walk)."""
    rng = h.rng
    keen = sorted(arrivals, key=lambda cid: -arrivals[cid][2])
    # About 26 requests in all, those of the walks' goal included: more would leave no lead merely hot.
    for cid in keen[:26 - sum(converted for _, _, converted in walks.values())]:
        t, _, _ = arrivals[cid]
        age = (h.now - t).days
        if age < 6:
            continue
        at = t + timedelta(days=rng.randint(3, age - 2), hours=rng.randint(0, 8))
        if cid in walks:
            start, end, converted = walks[cid]
            if end is None or converted:
                continue
            if start <= at < end:
                at = end + (at - start)  # as long after the case study as it came after the whitepaper
        h.event(cid, "consultation_requested", at, "form", form=CONSULTATION_FORM)


def _visits(session: Session, h: _History, arrivals: dict[int, tuple[datetime, str, float]]) -> None:
    """A few recent visits to the company's site: known leads (identified by a mail click) and anonymous
    visitors seen by their network's company, and one crawler."""
    rng = h.rng
    # Known visitors from every stage: some of the keenest (the MQLs-to-be of _intent) and warm and cold ones,
    # so the website report's columns by stage all have pages.
    keen = sorted(arrivals, key=lambda cid: -arrivals[cid][2])
    known = keen[4:12] + keen[30:36]
    visitors: list[dict[str, Any]] = []
    for n in range(18):
        cid = known[n] if n < len(known) else None
        first = h.now - timedelta(days=rng.randint(1, 9), minutes=rng.randint(0, 600))
        visitors.append({"visitor_key": f"{rng.getrandbits(128):032x}", "contact_id": cid,
                         "identified_at": first if cid else None, "identified_by": "mail_click" if cid else "",
                         "organisation": "" if cid else _ORGS[n % len(_ORGS)],
                         "first_seen_at": first, "last_seen_at": first})
    ids = list(session.scalars(insert(WebVisitor).returning(WebVisitor.id, sort_by_parameter_order=True), visitors))
    for vid, v in zip(ids, visitors, strict=True):
        t: datetime = v["first_seen_at"]
        for _ in range(rng.randint(1, 4)):
            path, title = rng.choice(_PAGES)
            t = min(t + timedelta(minutes=rng.randint(1, 40), hours=rng.choice((0, 0, 20))), h.now - timedelta(minutes=5))
            h.week(t).visits.append({
                "event_id": h.event_id(), "visitor_id": vid, "contact_id": v["contact_id"],
                "url": f"https://www.example.com{path}", "host": "www.example.com", "path": path, "title": title,
                "referrer": "", "utm_source": "nurture" if v["contact_id"] else "", "utm_medium": "email" if v["contact_id"] else "",
                "utm_campaign": "", "duration_seconds": rng.randint(8, 240), "organisation": v["organisation"],
                "user_agent": _BROWSER, "ip": "198.51.100.0", "classification": HitClass.HUMAN, "reason": "",
                "occurred_at": t, "recorded_at": t})
            v["last_seen_at"] = t
    session.execute(update(WebVisitor), [{"id": vid, "last_seen_at": v["last_seen_at"]}
                                         for vid, v in zip(ids, visitors, strict=True)])
    t = h.now - timedelta(hours=5)
    h.week(t).visits.append({"event_id": h.event_id(), "visitor_id": ids[-1], "contact_id": None,
                             "url": "https://www.example.com/pricing", "host": "www.example.com", "path": "/pricing",
                             "title": "料金プラン", "user_agent": "Mozilla/5.0 (compatible; bingbot/2.0)",
                             "ip": "198.51.100.0", "classification": HitClass.SCANNER, "reason": "bot_user_agent",
                             "organisation": "", "occurred_at": t, "recorded_at": t})


def _write_sends(session: Session, sends: list[tuple[dict[str, Any], list[HitRow]]]) -> None:
    """The sends (RETURNING their ids), their hits, and the roll-ups the writer would have added."""
    if not sends:
        return
    rows = [{"status": SendStatus.SENT, "attempts": 1, "created_at": s["sent_at"], "enqueued_at": s["sent_at"],
             "claimed_at": s["sent_at"], **s} for s, _ in sends]
    ids = list(session.scalars(insert(Send).returning(Send.id, sort_by_parameter_order=True), rows))
    hits: list[dict[str, Any]] = []
    delta: Counter[Any] = Counter()
    for send_id, (s, rows_) in zip(ids, sends, strict=True):
        for r in rows_:
            r.send_id = send_id
            hits.append({"event_id": r.event_id, "kind": r.kind, "send_id": send_id, "contact_id": s["contact_id"],
                         "link_id": r.link_id, "occurred_at": r.occurred_at, "recorded_at": r.occurred_at,
                         "user_agent": r.user_agent, "ip": r.ip, "network": r.network,
                         "classification": r.classification, "reason": r.reason})
        delta.update(contribution(SimpleNamespace(broadcast_id=s.get("broadcast_id"), step_id=None,
                                                  variant=s.get("variant", "")), rows_))
    if hits:
        session.execute(insert(Hit), hits)
    apply_rollup_delta(session, delta)


def _sales(session: Session, h: _History) -> None:
    """Sales took some MQLs on: a few became SQLs, and some of those customers (the sales team's moves)."""
    rng = h.rng
    mqls = session.execute(select(StageChange.contact_id, StageChange.changed_at)
                           .where(StageChange.to_stage == Stage.MQL.value).order_by(StageChange.changed_at)).all()
    changes: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    for n, (cid, at) in enumerate(m for m in mqls if m[1] < h.now - timedelta(days=8)):
        if n >= 9:
            break
        sql_at = at + timedelta(days=rng.randint(2, 6), hours=rng.randint(0, 6))
        changes.append({"contact_id": cid, "from_stage": "mql", "to_stage": "sql", "cause": "sales",
                        "detail": "商談化（インサイドセールス）", "changed_at": sql_at})
        stage = Stage.SQL
        won = sql_at + timedelta(days=rng.randint(10, 30))
        if n % 3 == 0 and won < h.now:
            changes.append({"contact_id": cid, "from_stage": "sql", "to_stage": "customer", "cause": "sales",
                            "detail": "受注", "changed_at": won})
            stage = Stage.CUSTOMER
        stages.append({"id": cid, "stage": stage})
    if changes:
        session.execute(insert(StageChange), changes)
        session.execute(update(Contact), stages)


def seed_history(session: Session, settings: Settings, contacts: list[Contact], journey: Journey, *,
                 now: datetime, seed: int = 7) -> str:
    """Give the demo's contacts 90 days of history (campaigns.demo.seed_demo, once). Returns a summary."""
    h = _History(now, seed)
    session.flush()
    _rules(session)
    arrivals = _arrivals(session, h, contacts)
    skip = {c.id for c in contacts[:20]}  # the demo enrolled these just now: they stay at the start node
    _newsletters(session, settings, h, arrivals)
    _ab_test(session, settings, h, arrivals)
    walks = _journey(session, h, journey, arrivals, skip)
    _intent(h, arrivals, walks)
    _visits(session, h, arrivals)
    upcoming = create_from_starter(session, settings, starter("case_study", "ja") or starter("newsletter", "ja"),  # type: ignore[arg-type]
                                   "導入事例のご紹介（来週配信）")
    _broadcast(session, "導入事例のご紹介（来週配信）", upcoming, _tokyo(now + timedelta(days=3), 10),
               BroadcastStatus.SCHEDULED)
    # Week by week: what happened, then the scoring run at the week's end (the engine's own stage moves).
    for n, week in enumerate(h.weeks):
        if week.events:
            session.execute(insert(Event), week.events)
        if week.visits:
            session.execute(insert(WebVisit), week.visits)
        _write_sends(session, week.sends)
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            # Tables filled within this transaction have no statistics yet: without them the planner joins the
            # scoring run's candidates to the ledger row by row (minutes instead of a fraction of a second).
            session.execute(text("ANALYZE contacts, events, tracking_hits, web_visits, score_entries, stage_changes"))
        score_new(session, min(now, h.start + timedelta(days=7 * (n + 1))))
    _sales(session, h)
    session.flush()
    session.expire_all()
    return f"90 days of history ({h.mails} mails, {h.serial} hits and visits)"
