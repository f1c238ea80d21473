"""KPI dashboard: every measure against a Python reference over the same random data (SQLite and
PostgreSQL), days and months in the account's time zone, the range boundaries, human clicks only, safe CSV,
the API's validation, and the page."""

from __future__ import annotations

import csv
import io
import random
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from campaigns.audience.segments import count_segment
from campaigns.insights import kpi
from campaigns.insights.kpi import DateRange, RangeError
from campaigns.models import (
    Account,
    Contact,
    Enrollment,
    Event,
    Hit,
    HitClass,
    HitKind,
    Link,
    Segment,
    Send,
    SendStatus,
    Sequence,
    StageChange,
    Template,
    TemplateVersion,
)

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")  # the test account's zone (the model's default)
RANK = kpi.STAGE_RANK
SOURCES = ["web", "seminar", "", "=HYPERLINK(\"http://evil.test\")", "展示会"]
STAGES = list(kpi.STAGES)


def at(day: float, seconds: int = 0) -> datetime:
    """A whole-second timestamp `day` days into 2026."""
    return YEAR_START + timedelta(days=day, seconds=seconds)


def rand_time(rng: random.Random, lo: float = 0, hi: float = 360) -> datetime:
    return YEAR_START + timedelta(seconds=rng.randrange(int(lo * 86400), int(hi * 86400)))


# ------------------------------------------------------------------ random world and its reference
@dataclass
class World:
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    changes: list[tuple[int, str, datetime]] = field(default_factory=list)
    events: list[tuple[int, str, datetime]] = field(default_factory=list)
    sends: list[tuple[int, int, str, datetime | None]] = field(default_factory=list)  # contact, template, status, sent
    clicks: list[tuple[int, int, str, str, bool, datetime]] = field(default_factory=list)  # contact, tpl, url, class, honeypot, at
    templates: dict[int, str] = field(default_factory=dict)
    sequences: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, goal)
    enrollments: list[tuple[int, int, datetime]] = field(default_factory=list)
    segments: dict[int, dict[str, Any]] = field(default_factory=dict)


def build_world(services: Any, seed: int, n_contacts: int = 70) -> World:
    """Random contacts, stage moves, events, sends, classified clicks, sequences and segments, inserted directly."""
    rng = random.Random(seed)
    w = World()
    with services.db.begin() as s:
        tpl_versions = []
        for t in range(3):
            tpl = Template(name=f"Mail {t}" if t else "=cmd|' /C calc'!A0")
            s.add(tpl)
            s.flush()
            ver = TemplateVersion(template_id=tpl.id, version=1, subject="s")
            s.add(ver)
            s.flush()
            links = []
            for pos, url in enumerate([f"https://acme.test/{t}/a", f"https://acme.test/{t}/b", "https://acme.test/trap"]):
                link = Link(template_version_id=ver.id, position=pos, url=url, honeypot=url.endswith("trap"))
                s.add(link)
                links.append(link)
            s.flush()
            tpl.current_version_id = ver.id
            w.templates[tpl.id] = tpl.name
            tpl_versions.append((tpl.id, ver.id, links))
        for i in range(3):
            goal = ["demo_booked", "webinar_attended", ""][i]
            seq = Sequence(name=f"Seq {i}", goal_event=goal)
            s.add(seq)
            s.flush()
            w.sequences[seq.id] = (seq.name, goal)
        for i in range(n_contacts):
            created = rand_time(rng)
            c = Contact(email=f"c{i}@example.jp", source=rng.choice(SOURCES), stage=rng.choice(STAGES),
                        score=rng.randrange(0, 100), created_at=created)
            s.add(c)
            s.flush()
            w.contacts[c.id] = {"source": c.source, "stage": str(c.stage), "created": created, "score": c.score}
            # a path of stage moves, some contacts none; a few dated before creation (bad data)
            t = created + timedelta(days=rng.uniform(-3, 60))
            t = t.replace(microsecond=0)
            prev = ""
            for _ in range(rng.choice([0, 0, 1, 2, 3, 4])):
                to = rng.choice(STAGES)
                s.add(StageChange(contact_id=c.id, from_stage=prev, to_stage=to, cause="rule", changed_at=t))
                w.changes.append((c.id, to, t))
                prev = to
                t += timedelta(days=rng.uniform(0, 40))
                t = t.replace(microsecond=0)
            for _ in range(rng.choice([0, 1, 2, 3])):
                when = created + timedelta(seconds=rng.randrange(-20 * 86400, 60 * 86400))
                name = rng.choice(["page_viewed", "demo_booked", "webinar_attended"])
                s.add(Event(contact_id=c.id, name=name, occurred_at=when))
                w.events.append((c.id, name, when))
            for _ in range(rng.choice([0, 1, 2, 4, 6])):
                tid, vid, links = rng.choice(tpl_versions)
                status = rng.choice([SendStatus.SENT, SendStatus.SENT, SendStatus.FAILED])
                sent = created + timedelta(seconds=rng.randrange(0, 50 * 86400))
                send = Send(contact_id=c.id, template_version_id=vid, status=status,
                            sent_at=sent if status == SendStatus.SENT else None)
                s.add(send)
                s.flush()
                w.sends.append((c.id, tid, str(status), send.sent_at))
                if status != SendStatus.SENT:
                    continue
                for _ in range(rng.choice([0, 1, 2])):
                    link = rng.choice(links)
                    cls = rng.choice([HitClass.HUMAN, HitClass.HUMAN, HitClass.SCANNER, HitClass.MACHINE_OPEN])
                    when = sent + timedelta(seconds=rng.randrange(0, 3 * 86400))
                    s.add(Hit(event_id=f"{send.id}-{rng.random()}", kind=HitKind.CLICK, send_id=send.id,
                              contact_id=c.id, link_id=link.id, occurred_at=when, classification=cls))
                    w.clicks.append((c.id, tid, link.url, str(cls), link.honeypot, when))
            for seq_id in w.sequences:
                if rng.random() < 0.3:
                    enrolled = created + timedelta(seconds=rng.randrange(0, 30 * 86400))
                    s.add(Enrollment(contact_id=c.id, sequence_id=seq_id, enrolled_at=enrolled))
                    w.enrollments.append((c.id, seq_id, enrolled))
        for name, rules in [("Web leads", {"all": [{"field": "source", "op": "eq", "value": "web"}]}),
                            ("High score", {"all": [{"field": "score", "op": "gt", "value": 50}]}),
                            ("Hot or seminar", {"any": [{"field": "stage", "op": "eq", "value": "hot"},
                                                        {"field": "source", "op": "eq", "value": "seminar"}]})]:
            seg = Segment(name=name, rules=rules)
            s.add(seg)
            s.flush()
            w.segments[seg.id] = {"name": name, "rules": rules}
    return w


def in_range(t: datetime | None, r: DateRange) -> bool:
    return t is not None and r.since <= t < r.until


def first_conversion(w: World, stage: str) -> dict[int, datetime]:
    out: dict[int, datetime] = {}
    for cid, to, t in w.changes:
        if RANK[to] >= RANK[stage] and to in kpi.CONVERSION_STAGES and (cid not in out or t < out[cid]):
            out[cid] = t
    return out


def ref_lifecycle(w: World, r: DateRange) -> dict[str, Any]:
    reached: dict[int, int] = {}
    for cid, c in w.contacts.items():
        if in_range(c["created"], r):
            reached[cid] = max([RANK[c["stage"]]] + [RANK[to] for x, to, _ in w.changes if x == cid])
    by_source: dict[str, int] = {}
    by_stage = dict.fromkeys(STAGES, 0)
    for cid in reached:
        by_source[w.contacts[cid]["source"]] = by_source.get(w.contacts[cid]["source"], 0) + 1
        by_stage[w.contacts[cid]["stage"]] += 1
    funnel = [sum(1 for v in reached.values() if v >= k) for k in range(4)]
    return {"by_source": by_source, "by_stage": by_stage, "funnel": funnel}


def ref_months(w: World, r: DateRange, stage: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for cid, t in first_conversion(w, stage).items():
        if in_range(t, r):
            key = (t.astimezone(r.zone).strftime("%Y-%m"), w.contacts[cid]["source"])
            out[key] = out.get(key, 0) + 1
    return out


def ref_spans(w: World, r: DateRange, stage: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for cid, t in first_conversion(w, stage).items():
        if not in_range(t, r):
            continue
        touch = min([w.contacts[cid]["created"]] + [e for x, _n, e in w.events if x == cid])
        out.setdefault(w.contacts[cid]["source"], []).append(max(0.0, (t - touch).total_seconds() / 86400))
    return out


def ref_preceding(w: World, r: DateRange, stage: str, days: int) -> tuple[int, dict[int, int], dict[tuple[int, str], int]]:
    conv = {cid: t for cid, t in first_conversion(w, stage).items() if in_range(t, r)}
    tpl: dict[int, set[int]] = {}
    for cid, tid, status, sent in w.sends:
        if cid in conv and status == "sent" and sent is not None and conv[cid] - timedelta(days=days) <= sent <= conv[cid]:
            tpl.setdefault(tid, set()).add(cid)
    links: dict[tuple[int, str], set[int]] = {}
    for cid, tid, url, cls, honeypot, when in w.clicks:
        if cid in conv and cls == "human" and not honeypot and conv[cid] - timedelta(days=days) <= when <= conv[cid]:
            links.setdefault((tid, url), set()).add(cid)
    return len(conv), {k: len(v) for k, v in tpl.items()}, {k: len(v) for k, v in links.items()}


def ref_goals(w: World, r: DateRange) -> dict[int, tuple[int, int]]:
    out = {}
    for sid, (_name, goal) in w.sequences.items():
        if not goal:
            continue
        enrolled, reached = set(), set()
        for cid, seq, when in w.enrollments:
            if seq != sid or not in_range(when, r):
                continue
            enrolled.add(cid)
            if any(x == cid and n == goal and when <= e < r.until for x, n, e in w.events):
                reached.add(cid)
        out[sid] = (len(enrolled), len(reached))
    return out


RANGES = [DateRange(date(2026, 1, 1), date(2026, 12, 31)), DateRange(date(2026, 2, 10), date(2026, 5, 20)),
          DateRange(date(2026, 7, 1), date(2026, 7, 31)), DateRange(date(2025, 1, 1), date(2025, 12, 31))]
YEAR_TOKYO = DateRange(date(2026, 1, 1), date(2026, 12, 31), TOKYO)  # what the page and the API ask for


def set_account_zone(services: Any, name: str) -> None:
    with services.db.begin() as s:
        s.execute(update(Account).where(Account.id == 1).values(timezone=name))


@pytest.mark.parametrize(("seed", "zone"), [(1, "UTC"), (2, "UTC"), (1, "Asia/Tokyo")])
def test_every_measure_matches_a_python_reference(services, seed, zone):
    w = build_world(services, seed)
    rng = random.Random(seed)
    ranges = [DateRange(r.first, r.last, ZoneInfo(zone)) for r in RANGES]
    ranges.append(DateRange(date(2026, 1, 1) + timedelta(days=rng.randrange(0, 200)), date(2026, 10, 1), ZoneInfo(zone)))
    with services.db.begin() as s:
        for r in ranges:
            data = kpi.dashboard(s, r, stage="mql", days=30)
            ref = ref_lifecycle(w, r)
            got = data["contacts"]
            assert {x["source"]: x["contacts"] for x in got["by_source"]} == ref["by_source"]
            assert {x["stage"]: x["contacts"] for x in got["by_stage"]} == ref["by_stage"]
            assert [x["contacts"] for x in got["funnel"]] == ref["funnel"]
            assert got["total"] == ref["funnel"][0]
            for i in range(1, 4):
                prev, cur = ref["funnel"][i - 1], ref["funnel"][i]
                assert got["funnel"][i]["step_rate"] == (cur / prev if prev else None)

            # MQLs per month and source
            months = ref_months(w, r, "mql")
            m = data["mqls"]
            got_months = {(month, series["source"]): v for series in m["series"]
                          for month, v in zip(m["months"], series["values"], strict=True) if v}
            assert got_months == months
            assert m["total"] == sum(months.values())
            assert m["months"] == r.months()

            # time to MQL
            spans = ref_spans(w, r, "mql")
            t = data["time_to_mql"]
            assert {x["source"]: x["contacts"] for x in t["per_source"]} == {k: len(v) for k, v in spans.items()}
            for row in t["per_source"]:
                values = spans[row["source"]]
                assert row["avg_days"] == pytest.approx(statistics.fmean(values), abs=1e-3)
                assert row["median_days"] == pytest.approx(statistics.median(values), abs=1e-3)
                assert row["max_days"] == pytest.approx(max(values), abs=1e-3)
            everyone = [v for vs in spans.values() for v in vs]
            assert t["overall"]["contacts"] == len(everyone)
            if everyone:
                assert t["overall"]["median_days"] == pytest.approx(statistics.median(everyone), abs=1e-3)
            else:
                assert t["overall"]["avg_days"] is None

            # goals
            goals = ref_goals(w, r)
            assert {g["sequence_id"]: (g["enrolled"], g["reached_goal"]) for g in data["goals"]} == goals

            # segments: members agree with count_segment, new_in_range with the reference
            for row in data["segments"]:
                rules = w.segments[row["id"]]["rules"]
                assert row["members"] == count_segment(s, rules)
            assert sum(r_["members"] for r_ in data["segments"]) > 0

        # the random data exercise every measure (not only zeros)
        full = kpi.dashboard(s, ranges[0], stage="mql", days=30)
        assert full["contacts"]["funnel"][3]["contacts"] > 0 and full["mqls"]["total"] > 0
        wide = kpi.preceding(s, ranges[0], "mql", 365)
        assert wide["templates"] and wide["links"]
        assert any(g["reached_goal"] for g in full["goals"])
        for stage, days in [("mql", 30), ("mql", 365), ("sql", 7), ("customer", 90)]:
            r = ranges[0]
            p = kpi.preceding(s, r, stage, days, limit=1000)
            converters, tpl, links = ref_preceding(w, r, stage, days)
            assert p["converters"] == converters
            assert {x["template_id"]: x["contacts"] for x in p["templates"]} == tpl
            assert {(x["template_id"], x["url"]): x["contacts"] for x in p["links"]} == links
            counts = [x["contacts"] for x in p["templates"]]
            assert counts == sorted(counts, reverse=True)
            for x in p["templates"]:
                assert x["share"] == pytest.approx(x["contacts"] / converters)


def test_segment_new_in_range_counts_members_created_in_the_range(services):
    with services.db.begin() as s:
        s.add_all([Contact(email=f"s{i}@example.jp", source="web", created_at=at(i * 10)) for i in range(6)])
        s.add(Contact(email="other@example.jp", source="ads", created_at=at(15)))
        s.add(Segment(name="Web", rules={"all": [{"field": "source", "op": "eq", "value": "web"}]}))
        s.add(Segment(name="Broken", rules={"all": [{"field": "nope", "op": "zz", "value": 1}]}))
    with services.db.begin() as s:
        rows = {r["name"]: r for r in kpi.segment_counts(s, DateRange(date(2026, 1, 11), date(2026, 1, 31)))}
    assert rows["Web"]["members"] == 6
    assert rows["Web"]["new_in_range"] == 3  # Jan 11, 21 and 31 00:00; not Jan 1 or Feb 10
    assert rows["Broken"]["members"] is None and rows["Broken"]["error"]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_range_boundaries_are_whole_days_of_the_zone_both_included(services, zone):
    r = DateRange(date(2026, 3, 1), date(2026, 3, 31), ZoneInfo(zone))
    with services.db.begin() as s:
        for i, created in enumerate([r.since - timedelta(seconds=1), r.since, r.until - timedelta(seconds=1), r.until]):
            c = Contact(email=f"b{i}@example.jp", source="web", created_at=created)
            s.add(c)
            s.flush()
            s.add(StageChange(contact_id=c.id, to_stage="mql", cause="rule", changed_at=created))
        seq = Sequence(name="Demo", goal_event="demo_booked")
        s.add(seq)
        s.flush()
        c = Contact(email="g@example.jp", created_at=at(0))
        s.add(c)
        s.flush()
        s.add(Enrollment(contact_id=c.id, sequence_id=seq.id, enrolled_at=r.until - timedelta(days=1)))
        s.add(Event(contact_id=c.id, name="demo_booked", occurred_at=r.until))  # just after the range
    with services.db.begin() as s:
        data = kpi.dashboard(s, r)
        assert data["contacts"]["total"] == 2
        assert data["mqls"]["total"] == 2
        assert data["mqls"]["months"] == ["2026-03"]
        assert data["goals"][0]["enrolled"] == 1 and data["goals"][0]["reached_goal"] == 0
        later = kpi.goal_rates(s, DateRange(date(2026, 3, 1), date(2026, 4, 1), ZoneInfo(zone)))
        assert later[0]["reached_goal"] == 1
    assert r.since.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(2026, 3, 1)  # local midnight


def add_lead_and_mql(services: Any, email: str, when: datetime, source: str = "web") -> None:
    with services.db.begin() as s:
        c = Contact(email=email, source=source, created_at=when, stage="mql")
        s.add(c)
        s.flush()
        s.add(StageChange(contact_id=c.id, from_stage="hot", to_stage="mql", cause="score_threshold", changed_at=when))


def mql_months(data: dict[str, Any]) -> dict[str, int]:
    return {r["month"]: r["conversions"] for r in data["mqls"]["per_month"]}


def test_a_lead_at_8am_in_tokyo_counts_on_that_tokyo_day_and_month(services):
    """2026-03-01 08:00 JST is 2026-02-28 23:00 UTC: March 1 / March for Tokyo, Feb 28 / February for UTC."""
    add_lead_and_mql(services, "early@example.jp", datetime(2026, 3, 1, 8, 0, tzinfo=TOKYO))
    utc = ZoneInfo("UTC")
    with services.db.begin() as s:
        assert kpi.lifecycle(s, DateRange(date(2026, 3, 1), date(2026, 3, 1), TOKYO))["total"] == 1
        assert kpi.lifecycle(s, DateRange(date(2026, 2, 28), date(2026, 2, 28), TOKYO))["total"] == 0
        assert kpi.lifecycle(s, DateRange(date(2026, 2, 28), date(2026, 2, 28), utc))["total"] == 1
        assert kpi.lifecycle(s, DateRange(date(2026, 3, 1), date(2026, 3, 1), utc))["total"] == 0
        tokyo = kpi.dashboard(s, DateRange(date(2026, 2, 1), date(2026, 3, 31), TOKYO))
        in_utc = kpi.dashboard(s, DateRange(date(2026, 2, 1), date(2026, 3, 31), utc))
    assert mql_months(tokyo) == {"2026-02": 0, "2026-03": 1}
    assert mql_months(in_utc) == {"2026-02": 1, "2026-03": 0}
    assert tokyo["range"]["time_zone"] == "Asia/Tokyo" and in_utc["range"]["time_zone"] == "UTC"


def test_the_page_and_the_api_count_in_the_account_zone(ui, client, services, api_key):
    add_lead_and_mql(services, "early@example.jp", datetime(2026, 2, 28, 23, 0, tzinfo=UTC))
    auth = {"Authorization": f"Bearer {api_key}"}
    query = "from=2026-03-01&to=2026-03-01"
    body = client.get(f"/api/v1/kpi?{query}", headers=auth).get_json()
    assert body["contacts"]["total"] == 1 and body["range"]["time_zone"] == "Asia/Tokyo"
    html = ui.get(f"/kpi/?{query}").get_data(as_text=True)
    assert 'data-testid="total-contacts">1<' in html and "Whole days in Asia/Tokyo, both ends included." in html
    assert "UTC" not in html
    ja = ui.get(f"/kpi/?{query}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "Asia/Tokyo の日単位" in ja
    csv_rows = parse_csv(ui.get("/kpi/export/mqls.csv?from=2026-02-01&to=2026-03-31").get_data(as_text=True))
    assert [(r[0], r[-1]) for r in csv_rows[1:]] == [("2026-02", "0"), ("2026-03", "1")]

    set_account_zone(services, "UTC")
    body = client.get(f"/api/v1/kpi?{query}", headers=auth).get_json()
    assert body["contacts"]["total"] == 0 and body["range"]["time_zone"] == "UTC"  # another cache key
    utc_body = client.get("/api/v1/kpi?from=2026-02-28&to=2026-02-28", headers=auth).get_json()
    assert utc_body["contacts"]["total"] == 1
    assert "Whole days in UTC, both ends included." in ui.get(f"/kpi/?{query}").get_data(as_text=True)


def test_last_30_days_end_on_the_account_today(ui, services, monkeypatch):
    # 2026-03-31 20:00 UTC is already April 1 (05:00) in Tokyo
    monkeypatch.setattr(kpi, "now_utc", lambda: datetime(2026, 3, 31, 20, 0, tzinfo=UTC))
    assert DateRange.last_days(30, zone=TOKYO) == DateRange(date(2026, 3, 3), date(2026, 4, 1), TOKYO)
    assert DateRange.last_days(30, zone=ZoneInfo("UTC")).last == date(2026, 3, 31)
    assert DateRange.parse(None, None, zone=TOKYO).last == date(2026, 4, 1)
    html = ui.get("/kpi/").get_data(as_text=True)
    assert 'data-testid="preset-30"' in html and "from=2026-03-03&amp;to=2026-04-01" in html
    set_account_zone(services, "UTC")
    assert "from=2026-03-02&amp;to=2026-03-31" in ui.get("/kpi/").get_data(as_text=True)


def test_months_of_a_dst_zone_exact_on_postgresql_approximate_on_sqlite(services):
    """Feb 28 23:30 EST is Mar 1 04:30 UTC. PostgreSQL converts each time with the zone's rules; SQLite uses
    the offset at the range's end (EDT, -4 h), so a conversion in the hour before a month starts under
    another offset lands in the next month there (docs/kpi.md)."""
    new_york = ZoneInfo("America/New_York")
    add_lead_and_mql(services, "ny@example.com", datetime(2026, 2, 28, 23, 30, tzinfo=new_york))
    r = DateRange(date(2026, 2, 1), date(2026, 4, 30), new_york)
    assert r.offset_seconds == -4 * 3600
    with services.db.begin() as s:
        data = kpi.dashboard(s, r)
        dialect = s.get_bind().dialect.name
        assert kpi.lifecycle(s, DateRange(date(2026, 2, 28), date(2026, 2, 28), new_york))["total"] == 1  # exact
    expected = {"2026-02": 1, "2026-03": 0} if dialect == "postgresql" else {"2026-02": 0, "2026-03": 1}
    assert {m: n for m, n in mql_months(data).items() if m != "2026-04"} == expected


def test_only_human_clicks_on_real_links_in_the_window_count(services):
    """A scanner, a machine hit, a honeypot click and a click outside the window do not count."""
    conversion = at(100)
    with services.db.begin() as s:
        tpl = Template(name="Whitepaper")
        s.add(tpl)
        s.flush()
        ver = TemplateVersion(template_id=tpl.id, version=1, subject="s")
        s.add(ver)
        s.flush()
        real = Link(template_version_id=ver.id, position=0, url="https://acme.test/wp")
        trap = Link(template_version_id=ver.id, position=1, url="https://acme.test/trap", honeypot=True)
        s.add_all([real, trap])
        s.flush()
        people = []
        for i, (cls, link, when) in enumerate([
            (HitClass.HUMAN, real, conversion),  # at the conversion instant: counts
            (HitClass.SCANNER, real, conversion - timedelta(days=1)),
            (HitClass.MACHINE_OPEN, real, conversion - timedelta(days=1)),
            (HitClass.HUMAN, trap, conversion - timedelta(days=1)),
            (HitClass.HUMAN, real, conversion - timedelta(days=7, seconds=1)),  # before the window
            (HitClass.HUMAN, real, conversion - timedelta(days=7)),  # window start: counts
            (HitClass.HUMAN, real, conversion + timedelta(seconds=1)),  # after converting
        ]):
            c = Contact(email=f"h{i}@example.jp", created_at=at(1))
            s.add(c)
            s.flush()
            people.append(c.id)
            s.add(StageChange(contact_id=c.id, to_stage="mql", cause="score_threshold", changed_at=conversion))
            send = Send(contact_id=c.id, template_version_id=ver.id, status=SendStatus.SENT, sent_at=when)
            s.add(send)
            s.flush()
            s.add(Hit(event_id=f"e{i}", kind=HitKind.CLICK, send_id=send.id, contact_id=c.id, link_id=link.id,
                      occurred_at=when, classification=cls))
    with services.db.begin() as s:
        p = kpi.preceding(s, DateRange(date(2026, 1, 1), date(2026, 12, 31)), "mql", 7)
    assert p["converters"] == 7
    assert [(x["url"], x["contacts"]) for x in p["links"]] == [("https://acme.test/wp", 2)]
    assert p["links"][0]["share"] == pytest.approx(2 / 7)
    assert p["templates"][0]["contacts"] == 5  # sends in the window, whatever was clicked (not 4 and 6)


def test_range_parsing():
    today = date(2026, 11, 22)
    assert DateRange.parse(None, None, today=today) == DateRange(date(2026, 8, 25), today)
    assert DateRange.parse("2026-01-01", "2026-01-31", today=today).days == 31
    assert DateRange.parse("2026-01-01", "2026-03-02").months() == ["2026-01", "2026-02", "2026-03"]
    assert DateRange(date(2025, 12, 5), date(2026, 1, 1)).months() == ["2025-12", "2026-01"]
    tokyo = DateRange.parse("2026-03-01", "2026-03-01", zone=TOKYO)
    assert (tokyo.since, tokyo.until) == (datetime(2026, 2, 28, 15, tzinfo=UTC), datetime(2026, 3, 1, 15, tzinfo=UTC))
    assert tokyo.offset_seconds == 9 * 3600
    for bad in [("2026-02-30", None), ("2026-1-1", None), ("yesterday", None), ("2026-03-01", "2026-02-01"),
                ("1900-01-01", "2026-01-01"), ("2000-01-01", "2026-01-01")]:
        with pytest.raises(RangeError):
            DateRange.parse(*bad, today=today)


def test_empty_database_gives_zeros_and_no_rates(services):
    with services.db.begin() as s:
        data = kpi.dashboard(s, DateRange(date(2026, 1, 1), date(2026, 1, 31)))
    assert data["contacts"]["total"] == 0
    assert [f["step_rate"] for f in data["contacts"]["funnel"]] == [None] * 4
    assert data["mqls"]["per_month"] == [{"month": "2026-01", "conversions": 0}]
    assert data["time_to_mql"]["overall"] == {"contacts": 0, "avg_days": None, "median_days": None,
                                              "min_days": None, "max_days": None}
    assert data["preceding"]["templates"] == [] and data["goals"] == [] and data["segments"] == []


# ------------------------------------------------------------------ CSV
def parse_csv(body: str) -> list[list[str]]:
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_csv_exports_neutralise_formulas(services):
    w = build_world(services, 3, n_contacts=40)
    with services.db.begin() as s:
        data = kpi.dashboard(s, RANGES[0], stage="mql", days=90)
    for table in kpi.CSV_TABLES:
        with services.db.begin() as s:  # an export computes only its table, with the same result
            assert kpi.export_csv(kpi.table_data(s, RANGES[0], table, "mql", 90), table) == kpi.export_csv(data, table)
        rows = parse_csv(kpi.export_csv(data, table))
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@")), (table, cell)
    sources = parse_csv(kpi.export_csv(data, "sources"))
    assert sources[0] == ["source", "contacts", "share"]
    assert "'=HYPERLINK(\"http://evil.test\")" in [r[0] for r in sources[1:]]
    assert sum(int(r[1]) for r in sources[1:]) == sum(1 for c in w.contacts.values() if in_range(c["created"], RANGES[0]))
    with pytest.raises(ValueError):
        kpi.export_csv(data, "nope")


# ------------------------------------------------------------------ API
def test_api_returns_the_dashboard_and_validates(client, services, api_key):
    build_world(services, 4, n_contacts=30)
    auth = {"Authorization": f"Bearer {api_key}"}
    resp = client.get("/api/v1/kpi?from=2026-01-01&to=2026-12-31&stage=sql&days=14", headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert datetime.fromisoformat(body.pop("computed_at")).tzinfo is not None
    with services.db.begin() as s:
        expected = kpi.dashboard(s, YEAR_TOKYO, stage="sql", days=14)  # days of the account's zone
    assert body == expected
    for query, field_name in [("from=2026-02-30", "from"), ("to=tomorrow", "to"), ("from=2026-05-01&to=2026-04-01", "from"),
                              ("stage=lead", "stage"), ("days=0", "days"), ("days=abc", "days")]:
        bad = client.get(f"/api/v1/kpi?{query}", headers=auth)
        assert bad.status_code == 422, query
        assert bad.get_json()["error"] == "validation_failed"
        assert field_name in bad.get_json()["details"], (query, bad.get_json())
    assert client.get("/api/v1/kpi").status_code == 401


def test_cached_dashboard_is_reused_until_refreshed(services, redis_conn):
    r = DateRange(date(2026, 3, 1), date(2026, 3, 31))
    with services.db.begin() as s:
        s.add(Contact(email="a@example.jp", created_at=at(70)))
    with services.db.begin() as s:
        first, first_at = kpi.cached_dashboard(s, services.redis, r)
        s.add(Contact(email="b@example.jp", created_at=at(71)))
        s.flush()
        again, again_at = kpi.cached_dashboard(s, services.redis, r)
        other, _ = kpi.cached_dashboard(s, services.redis, r, stage="sql")  # another key: computed now
        fresh, fresh_at = kpi.cached_dashboard(s, services.redis, r, fresh=True)
    assert first["contacts"]["total"] == again["contacts"]["total"] == 1 and again_at == first_at
    assert other["contacts"]["total"] == fresh["contacts"]["total"] == 2 and fresh_at >= first_at
    assert 0 < redis_conn.ttl("nurture:kpi:2026-03-01:2026-03-31:UTC:mql:30") <= kpi.CACHE_SECONDS


# ------------------------------------------------------------------ UI
def test_kpi_page_shows_numbers_charts_and_csv(ui, services):
    build_world(services, 5, n_contacts=40)
    page = ui.get("/kpi/?from=2026-01-01&to=2026-12-31")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    with services.db.begin() as s:
        data = kpi.dashboard(s, YEAR_TOKYO)
    assert f'data-testid="total-contacts">{data["contacts"]["total"]}<' in html
    assert 'id="funnel-chart"' in html and 'id="mql-chart"' in html
    assert "kpi.js" in html and "<script>" not in html  # CSP: no inline scripts
    csv_resp = ui.get("/kpi/export/funnel.csv?from=2026-01-01&to=2026-12-31")
    assert csv_resp.status_code == 200 and csv_resp.mimetype == "text/csv"
    rows = parse_csv(csv_resp.get_data(as_text=True))
    assert [int(r[1]) for r in rows[1:]] == [f["contacts"] for f in data["contacts"]["funnel"]]
    assert ui.get("/kpi/export/nope.csv").status_code == 404
    with services.db.begin() as s:
        s.add(Contact(email="late@example.jp", created_at=at(200)))
    again = ui.get("/kpi/?from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert f'data-testid="total-contacts">{data["contacts"]["total"]}<' in again  # the cached figures
    refreshed = ui.get("/kpi/?from=2026-01-01&to=2026-12-31&refresh=1").get_data(as_text=True)
    assert f'data-testid="total-contacts">{data["contacts"]["total"] + 1}<' in refreshed
    bad = ui.get("/kpi/?from=2026-13-01")
    assert bad.status_code == 400 and "must be a date" in bad.get_data(as_text=True)
    ja = ui.get("/kpi/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "開始日" in ja and "新規コンタクト" in ja


def test_kpi_page_empty_state(ui):
    html = ui.get("/kpi/").get_data(as_text=True)
    assert 'data-testid="kpi-empty"' in html
