"""Contact timeline benchmark: one page of a contact's story when that contact has 10,000 hits.

Builds, in a fresh PostgreSQL (or SQLite) database, 2,000 background contacts with a mail, two hits and
an event each, and ONE heavy contact with 500 mails, 10,000 hits (opens and clicks, human and machine),
2,000 events, 1,000 score entries and 50 stage changes. Then the median of 7 calls (after a warm-up) of
campaigns.insights.timeline.contact_timeline for the first page, a page deep in the history (reached by
its cursor), and contact_programs; and of the whole export (contact_export, every row).

Reproduce (from the repository root; needs PostgreSQL):
    .venv/bin/python bench/bench_contact_timeline.py                      # PostgreSQL
    .venv/bin/python bench/bench_contact_timeline.py --sqlite             # SQLite file in a temp folder
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_timeline), --hits, --keep-db.
Target (issue 20): a page of a contact with 10,000 hits stays fast (tens of milliseconds, not seconds).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, add_template, median_ms, reset_database, use_database, use_temp_dir  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build(db: object, hits: int) -> int:
    from sqlalchemy import insert

    from campaigns.models import (
        Broadcast,
        Contact,
        Event,
        Hit,
        RuleKind,
        ScoreEntry,
        ScoringRule,
        Send,
        StageChange,
    )

    with db.begin() as s:  # type: ignore[attr-defined]
        template, version = add_template(s)
        broadcast = Broadcast(name="bench", template_id=template.id, status="sent")
        rule = ScoringRule(name="open", kind=RuleKind.HUMAN_OPEN, points=1)
        s.add_all([broadcast, rule])
        s.flush()
        heavy = Contact(email="heavy@example.jp", first_name="Heavy")
        s.add(heavy)
        s.flush()
        s.execute(insert(Contact), [{"email": f"bg{i}@example.jp", "first_name": f"N{i}", "last_name": "",
                                     "company": "", "job_title": "", "source": "", "attributes": {},
                                     "status": "active", "stage": "cold", "score": 0, "consent_method": "",
                                     "consent_source": "", "consent_text": "", "created_at": T0,
                                     "updated_at": T0} for i in range(2000)])
        send_rows = [{"contact_id": heavy.id, "template_version_id": version.id, "status": "sent", "variant": "",
                      "attempts": 1, "possible_duplicate": False, "error": "", "created_at": T0 + timedelta(hours=i),
                      "sent_at": T0 + timedelta(hours=i)} for i in range(500)]
        send_rows += [{"contact_id": heavy.id + 1 + i, "template_version_id": version.id, "status": "sent",
                       "variant": "", "attempts": 1, "possible_duplicate": False, "error": "", "created_at": T0,
                       "sent_at": T0} for i in range(2000)]
        s.execute(insert(Send), send_rows)
        s.flush()
        from sqlalchemy import select

        heavy_sends = list(s.scalars(select(Send.id).where(Send.contact_id == heavy.id).order_by(Send.id)))
        rows = [{"event_id": f"h{i}", "kind": "open" if i % 3 else "click", "send_id": heavy_sends[i % 500],
                 "contact_id": heavy.id, "link_id": None, "occurred_at": T0 + timedelta(minutes=3 * i),
                 "recorded_at": T0, "user_agent": "ua", "ip": "", "network": "",
                 "classification": "human" if i % 4 else "machine_open", "reason": ""} for i in range(hits)]
        rows += [{"event_id": f"b{i}", "kind": "open", "send_id": heavy_sends[0], "contact_id": heavy.id + 1 + i % 2000,
                  "link_id": None, "occurred_at": T0, "recorded_at": T0, "user_agent": "", "ip": "", "network": "",
                  "classification": "human", "reason": ""} for i in range(4000)]
        for start in range(0, len(rows), 5000):
            s.execute(insert(Hit), rows[start:start + 5000])
        s.execute(insert(Event), [{"contact_id": heavy.id if i < 2000 else heavy.id + 1 + i % 2000,
                                   "name": "page_viewed", "properties": {"url": f"/p/{i}"}, "source": "api",
                                   "occurred_at": T0 + timedelta(minutes=7 * i), "created_at": T0}
                                  for i in range(4000)])
        s.execute(insert(ScoreEntry), [{"contact_id": heavy.id, "rule_id": rule.id, "points": 1, "source": "hit",
                                        "source_ref": str(i + 1), "occurred_at": T0 + timedelta(minutes=3 * i),
                                        "created_at": T0, "batch": 1} for i in range(1000)])
        s.execute(insert(StageChange), [{"contact_id": heavy.id, "from_stage": "cold", "to_stage": "warm",
                                         "cause": "score_threshold", "detail": "score 20 >= 20",
                                         "changed_at": T0 + timedelta(days=i)} for i in range(50)])
        return int(heavy.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_timeline")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--hits", type=int, default=10_000)
    add_keep_db(parser)
    args = parser.parse_args()
    from campaigns.db import Database
    from campaigns.insights.contact_export import contact_export
    from campaigns.insights.timeline import contact_programs, contact_timeline
    from campaigns.models import create_all

    if args.sqlite:
        url = f"sqlite:///{use_temp_dir('bench-timeline-', args.keep_db) / 'bench.db'}"
        db = Database(url)
        create_all(db)
    else:
        url = use_database(args.pg_url, args.keep_db)
        db = Database(url)
        reset_database(db)
    heavy = build(db, args.hits)
    if not args.sqlite:
        with db.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("ANALYZE"))
    zone = ZoneInfo("Asia/Tokyo")
    with db.factory() as s:
        first_ms, first = median_ms(lambda: contact_timeline(s, heavy, zone))
        cursor = first.next_cursor
        for _ in range(40):  # 40 pages down: about 2,000 items into the history
            cursor = contact_timeline(s, heavy, zone, before=cursor).next_cursor
        deep_ms, deep = median_ms(lambda: contact_timeline(s, heavy, zone, before=cursor))
        programs_ms, _ = median_ms(lambda: contact_programs(s, heavy, zone))
        export_ms, data = median_ms(lambda: contact_export(s, heavy, zone), runs=3)
    print(f"database: {'SQLite' if args.sqlite else 'PostgreSQL'}; heavy contact: {args.hits} hits, 500 mails, "
          f"2000 events, 1000 score entries; 2000 other contacts")
    print(f"timeline first page (50 items): {first_ms:.1f} ms median; {len(first.items)} items")
    print(f"timeline page 41 (by cursor):   {deep_ms:.1f} ms median; {len(deep.items)} items")
    print(f"sequences and journeys:         {programs_ms:.1f} ms median")
    print(f"whole export ({len(data['hits'])} hits):   {export_ms:.1f} ms median")
    print(f"reproduce: .venv/bin/python bench/bench_contact_timeline.py{' --sqlite' if args.sqlite else ''}")


if __name__ == "__main__":
    main()
