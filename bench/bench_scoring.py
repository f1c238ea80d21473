"""Lead scoring benchmark: 100,000 new events and hits scored by one run of the scoring step.

    .venv/bin/python bench/bench_scoring.py                     # PostgreSQL bench_scoring and SQLite, Redis unused
    .venv/bin/python bench/bench_scoring.py --db sqlite --items 20000
    .venv/bin/python bench/bench_scoring.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_scoring

Target (issue 5): 100,000 events scored in at most 10 s.

Data: 10,000 contacts, one sent broadcast (one send each, three links), and --items activity rows: 60 %
events (page_viewed, form_submitted with a "form" property, webinar_attended, demo_requested,
unsubscribed) and 40 % tracking hits (human, machine opens, scanner clicks) over the last 60 days.
Nine rules: opens, clicks, a given link, forms with a property filter, pages with a daily cap, webinar,
a custom MQL event, unsubscribe, inactivity; decay with a 30-day half-life; one stage trigger.

Timed: `scoring.score_new` over everything (one transaction: ledger INSERT .. SELECT per rule, full
refresh with decay and inactivity, scores of every touched contact, stage changes, triggers); then a
second run with nothing new (the idempotent re-read) and a `recompute` from the whole history.
The benchmark database's tables are dropped and recreated (it refuses a database holding other tables).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import add_keep_db, proc_cpu_seconds, use_database, use_temp_dir  # noqa: E402
from campaigns.db import Base, Database, now_utc
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    Event,
    Hit,
    Link,
    ScoreEntry,
    ScoreTrigger,
    Send,
    SendStatus,
    Template,
    TemplateVersion,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
    create_all,
    drop_all,
)
from campaigns.scoring import engine, rules

CONTACTS = 10_000
TARGET_SECONDS = 10.0


def fresh_schema(db: Database) -> None:

    foreign = set(sa.inspect(db.engine).get_table_names()) - set(Base.metadata.tables) - {"alembic_version"}
    if foreign:
        raise SystemExit(f"refusing: the database holds other tables {sorted(foreign)[:5]}")
    drop_all(db)
    create_all(db)


def populate(db: Database, items: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    now = now_utc()
    with db.begin() as s:
        template = Template(name="Bench")
        s.add(template)
        s.flush()
        version = TemplateVersion(template_id=template.id, version=1, subject="Hi", html_source="<p>hi</p>",
                                  compiled_html="<p>hi</p>")
        s.add(version)
        s.flush()
        links = []
        for i, url in enumerate(["https://acme.test/pricing", "https://acme.test/blog/1", "https://acme.test/demo"]):
            link = Link(template_version_id=version.id, position=i + 1, url=url)
            s.add(link)
            s.flush()
            links.append(link.id)
        broadcast = Broadcast(name="Bench", template_id=template.id, status=BroadcastStatus.SENT)
        s.add(broadcast)
        s.flush()
        s.execute(sa.insert(Contact), [{"email": f"lead{i}@bench.example.jp", "first_name": "Taro"}
                                       for i in range(CONTACTS)])
        contact_ids = list(s.scalars(sa.select(Contact.id).order_by(Contact.id)))
        s.execute(sa.insert(Send), [{"contact_id": cid, "broadcast_id": broadcast.id, "template_version_id": version.id,
                                     "status": SendStatus.SENT, "sent_at": now - timedelta(days=61)}
                                    for cid in contact_ids])
        send_of = dict(s.execute(sa.select(Send.contact_id, Send.id)).all())
    events: list[dict[str, Any]] = []
    hits: list[dict[str, Any]] = []
    names = ["page_viewed"] * 6 + ["form_submitted"] * 2 + ["webinar_attended", "demo_requested"]
    for n in range(items):
        cid = rng.choice(contact_ids)
        at = now - timedelta(seconds=rng.randrange(0, 60 * 86400))
        if n % 10 < 6:
            name = "unsubscribed" if rng.random() < 0.002 else rng.choice(names)
            props = {"form": rng.choice(["whitepaper", "newsletter"])} if name == "form_submitted" else {"url": "/p"}
            events.append({"contact_id": cid, "name": name, "properties": props, "source": "api",
                           "occurred_at": at, "created_at": at})
        else:
            kind = rng.choice(["open", "open", "click"])
            cls = rng.choice(["human", "human", "human", "machine_open" if kind == "open" else "scanner"])
            hits.append({"event_id": f"b{n:031d}", "kind": kind, "send_id": send_of[cid], "contact_id": cid,
                         "link_id": rng.choice(links) if kind == "click" else None, "occurred_at": at,
                         "recorded_at": at, "classification": cls})
    with db.begin() as s:
        for start in range(0, len(events), 10_000):
            s.execute(sa.insert(Event), events[start:start + 10_000])
        for start in range(0, len(hits), 10_000):
            s.execute(sa.insert(Hit), hits[start:start + 10_000])
        settings = rules.get_settings(s)
        settings.half_life_days, settings.warm_at, settings.hot_at, settings.mql_when_hot = 30, 20, 60, True
        for fields in [
            {"name": "Open", "kind": "human_open", "points": 1, "daily_cap": 3},
            {"name": "Click", "kind": "human_click", "points": 3},
            {"name": "Pricing link", "kind": "link_click", "points": 10, "link_url": "https://acme.test/pricing"},
            {"name": "Whitepaper", "kind": "form_submitted", "points": 15, "property_key": "form",
             "property_value": "whitepaper"},
            {"name": "Page", "kind": "page_viewed", "points": 2, "daily_cap": 5},
            {"name": "Webinar", "kind": "webinar_attended", "points": 20},
            {"name": "Demo", "kind": "custom_event", "event_name": "demo_requested", "points": 30, "sets_mql": True},
            {"name": "Unsubscribe", "kind": "unsubscribed", "points": -50},
            {"name": "Idle", "kind": "inactivity", "points": -10, "inactivity_days": 21},
        ]:
            rules.create_rule(s, fields)
        s.add(ScoreTrigger(name="MQL to CRM", when=TriggerWhen.STAGE, stage="mql", action=TriggerAction.WEBHOOK,
                           webhook_url="http://127.0.0.1:9/hook", webhook_secret="whsec_bench"))


def _backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a local PostgreSQL backend, from /proc; 0 when unreadable."""
    if pid is None:
        return 0.0
    try:
        return proc_cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return 0.0


def timed(db: Database, label: str, fn: Any) -> tuple[float, Any]:
    """Wall time of one scoring call in its transaction, and the CPU it used (Python + database backend):
    the CPU figure is what other load on a shared machine does not inflate."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with db.begin() as s:
        pid = s.scalar(sa.text("select pg_backend_pid()")) if db.dialect == "postgresql" else None
        backend_started = _backend_cpu(pid)
        result = fn(s)
        backend = _backend_cpu(pid) - backend_started
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    where = f"CPU {cpu:.2f} s Python" + (f" + {backend:.2f} s PostgreSQL backend" if pid else " (SQLite runs in-process)")
    print(f"  {label}: {elapsed:.2f} s wall; {where}  {dict(result.counts)}", flush=True)
    return elapsed, result


def run(label: str, url: str, items: int) -> float:
    print(f"\n{label}: {url}", flush=True)
    db = Database(url)
    fresh_schema(db)
    started = time.perf_counter()
    populate(db, items)
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    print(f"  setup ({items:,} events and hits, {CONTACTS:,} contacts): {time.perf_counter() - started:.1f} s")
    now = now_utc()
    first, _ = timed(db, f"score {items:,} new items", lambda s: engine.score_new(s, now))
    timed(db, "second run, nothing new", lambda s: engine.score_new(s, now + timedelta(seconds=2)))
    with db.begin() as s:
        before = dict(s.execute(sa.select(Contact.id, Contact.score)).all())
        entries = s.scalar(sa.select(sa.func.count()).select_from(ScoreEntry))
        deliveries = s.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))
    # The same clock as the scored scores: decay moves every score a little with each second.
    timed(db, "recompute from the whole history", lambda s: engine.recompute(s, now))
    with db.begin() as s:
        after = dict(s.execute(sa.select(Contact.id, Contact.score)).all())
    same = before == after
    rate = items / first
    verdict = "PASS" if first <= TARGET_SECONDS * items / 100_000 else "FAIL"
    print(f"  ledger entries {entries:,}; hand-over deliveries {deliveries:,}; recompute gives the same scores: {same}")
    print(f"  => {rate:,.0f} items/s; {label} {items:,} items in {first:.2f} s (target <= 10 s per 100,000): {verdict}")
    db.dispose()
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", choices=["both", "postgresql", "sqlite"], default="both")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_scoring")
    add_keep_db(parser)
    args = parser.parse_args()
    print(f"bench_scoring: {' '.join(sys.argv[1:]) or '(defaults)'}")
    results = {}
    if args.db in ("both", "postgresql"):
        use_database(args.pg_url, args.keep_db)
        results["PostgreSQL"] = run("PostgreSQL", args.pg_url, args.items)
    if args.db in ("both", "sqlite"):
        tmp = use_temp_dir("bench_scoring_", args.keep_db)
        results["SQLite"] = run("SQLite", f"sqlite:///{tmp}/bench_scoring.db", args.items)
    print("\nsummary: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in results.items()))
    print("reproduce: .venv/bin/python bench/bench_scoring.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
