"""Contact list benchmark: one page (50 rows) of the filtered, sorted list over 1,000,000 contacts on PostgreSQL.

Data are generated in PostgreSQL with generate_series: Japanese and Latin names, companies with full- and
half-width katakana, job titles, five sources, every stage and status, scores 0-100, creation over two
years, a last activity for 70% of them, an `industry` attribute, a static list of 50,000 contacts and a
segment. contacts.search_text is built from the same name parts folded by campaigns.search_text (the
script checks 2,000 rows against contact_search_text before timing). Then it times
campaigns.audience.contact_filter.page, the function the list page calls (warm-up, then the median of
--runs runs), for filter + sort combinations, searches (katakana typed three ways, a two-character
family name, a name with and without a space, an email fragment) and a page 200 pages deep.

Reproduce (from the repository root; needs PostgreSQL):
    .venv/bin/python bench/bench_contact_list.py                      # 1,000,000 contacts
    .venv/bin/python bench/bench_contact_list.py --contacts 100000 --explain
    .venv/bin/python bench/bench_contact_list.py --keep-db; ... --reuse  # time again without regenerating
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_contact_list).
Target (issue 20): each list page with a filter and a sort answers in at most 300 ms at 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, reset_database, use_database  # noqa: E402

TARGET_MS = 300.0
LAST = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "Smith", "Garcia", "Müller"]
FIRST = ["一郎", "花子", "太郎", "美咲", "翔太", "さくら", "ゆうき", "Emily", "John", "Anna", "ケンジ", "ﾅｵｷ"]
COMPANY = ["カタカナ商事", "ｻﾝﾌﾟﾙ工業", "株式会社グローバル", "Acme Corp", "Globex", "ＡＢＣ物産", "みらい銀行",
           "東京システム", "Initech", "日本テック"]
TITLE = ["部長", "課長", "マネージャー", "エンジニア", "CEO", "Marketing Manager", "営業", "係長"]
SOURCES = ["web", "webinar", "import", "expo", "partner"]
STAGES = ["cold", "warm", "hot", "mql", "sql", "customer"]
STAGE_WEIGHTS = "ARRAY['cold','cold','cold','cold','warm','warm','warm','hot','hot','mql','sql','customer']"


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build(db: Any, n: int) -> dict[str, int]:
    """Fresh tables and generated data; returns the ids of the list and the segment."""
    import sqlalchemy as sa

    from bench.bench_reports import bulk_insert_sql
    from campaigns.models import Contact, ContactList, Segment
    from campaigns.search_text import fold

    reset_database(db)
    arrays = {
        "last": _sql_array(LAST), "first": _sql_array(FIRST), "company": _sql_array(COMPANY),
        "title": _sql_array(TITLE), "flast": _sql_array([fold(v) for v in LAST]),
        "ffirst": _sql_array([fold(v) for v in FIRST]), "fcompany": _sql_array([fold(v) for v in COMPANY]),
        "ftitle": _sql_array([fold(v) for v in TITLE]),
    }
    # element picks: g spread over each array with different strides so combinations vary
    pick = {
        "last": f"(g * 7) % {len(LAST)} + 1", "first": f"(g * 5 + g / 13) % {len(FIRST)} + 1",
        "company": f"(g * 3 + g / 7) % {len(COMPANY)} + 1", "title": f"(g + g / 11) % {len(TITLE)} + 1",
    }
    company_no = "(g % 5000)::text"
    with db.begin() as s:
        s.execute(sa.text(bulk_insert_sql(Contact.__table__, n, {
            "email": "'c' || g || '@example.jp'",
            "first_name": f"({arrays['first']})[{pick['first']}]",
            "last_name": f"({arrays['last']})[{pick['last']}]",
            "company": f"({arrays['company']})[{pick['company']}] || ' ' || {company_no}",
            "job_title": f"({arrays['title']})[{pick['title']}]",
            "source": f"({_sql_array(SOURCES)})[g % 5 + 1]",
            "stage": f"({STAGE_WEIGHTS})[(g * 13) % 12 + 1]",
            "status": "CASE WHEN g % 20 = 0 THEN 'unsubscribed' WHEN g % 50 = 1 THEN 'bounced' ELSE 'active' END",
            "score": "(g * 37) % 101",
            "attributes": "jsonb_build_object('industry', (ARRAY['IT','製造','金融','小売'])[g % 4 + 1])",
            "created_at": "now() - ((g % 730) || ' days')::interval - ((g % 86400) || ' seconds')::interval",
            "last_activity_at": "CASE WHEN g % 10 < 7 THEN now() - ((g * 7 % 400) || ' days')::interval "
                                "- ((g % 3600) || ' seconds')::interval END",
            "search_text": (
                "'c' || g || '@example.jp' || '|' "
                f"|| ({arrays['ffirst']})[{pick['first']}] || ({arrays['flast']})[{pick['last']}] || '|' "
                f"|| ({arrays['flast']})[{pick['last']}] || ({arrays['ffirst']})[{pick['first']}] || '|' "
                f"|| ({arrays['fcompany']})[{pick['company']}] || {company_no} || '|' "
                f"|| ({arrays['ftitle']})[{pick['title']}]"
            ),
        })))
        contact_list = ContactList(name="bench list")
        segment = Segment(name="IT hot", rules={"all": [
            {"field": "attributes.industry", "op": "eq", "value": "IT"},
            {"field": "score", "op": "between", "value": [60, 100]}]})
        s.add_all([contact_list, segment])
        s.flush()
        ids = {"list": contact_list.id, "segment": segment.id}
        s.execute(sa.text(f"INSERT INTO contact_list_members (list_id, contact_id, added_at) "
                          f"SELECT {ids['list']}, g, now() FROM generate_series(1, {n}, 20) AS g"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE contacts"))
        conn.execute(sa.text("VACUUM ANALYZE contact_list_members"))
    return ids


def check_search_text(db: Any) -> None:
    """The generated search text is what campaigns.search_text makes of the same fields."""
    import sqlalchemy as sa

    from campaigns.models import Contact
    from campaigns.search_text import contact_search_text

    with db.begin() as s:
        rows = s.execute(sa.select(Contact.email, Contact.first_name, Contact.last_name, Contact.company,
                                   Contact.job_title, Contact.search_text).order_by(Contact.id).limit(2000)).all()
    for row in rows:
        if contact_search_text(*row[:5]) != row[5]:
            raise SystemExit(f"generated search_text differs from contact_search_text: {row}")


def cases(ids: dict[str, int]) -> list[tuple[str, dict[str, str], str, bool]]:
    """(name, filter args, sort key, descending)."""
    from datetime import date, timedelta

    month_ago = (date.today() - timedelta(days=30)).isoformat()
    return [
        ("no filter, newest first", {}, "created", True),
        ("stage hot, by score", {"stage": "hot"}, "score", True),
        ("score 40-60, by name", {"score_min": "40", "score_max": "60"}, "name", False),
        ("source webinar + active, by company", {"source": "webinar", "status": "active"}, "company", False),
        ("created in a month, by last activity", {"created_from": "2026-03-01", "created_to": "2026-03-31"},
         "activity", True),
        ("active last 30 days, by score", {"active_from": month_ago}, "score", True),
        ("status bounced, by email", {"status": "bounced"}, "email", False),
        ("on the list, by newest", {"list_id": str(ids["list"])}, "created", True),
        ("in the segment, by score asc", {"segment_id": str(ids["segment"])}, "score", False),
        ("industry = 製造, by job title", {"attr_key": "industry", "attr_value": "製造"}, "job_title", False),
        ("stage customer + score >= 90, by created", {"stage": "customer", "score_min": "90"}, "created", True),
        ("search カタカナ", {"q": "カタカナ"}, "created", True),
        ("search かたかな", {"q": "かたかな"}, "created", True),
        ("search ｶﾀｶﾅ", {"q": "ｶﾀｶﾅ"}, "created", True),
        ("search 佐藤 (2 chars)", {"q": "佐藤"}, "created", True),
        ("search 佐藤 一郎", {"q": "佐藤 一郎"}, "created", True),
        ("search 佐藤一郎, by score", {"q": "佐藤一郎"}, "score", True),
        ("search ＡＢＣ物産 + stage warm", {"q": "ＡＢＣ物産", "stage": "warm"}, "name", False),
        ("search c123456@", {"q": "c123456@"}, "created", True),
        ("search rare: globex 4999", {"q": "globex 4999"}, "created", True),
        ("search rare, by score: globex 4999", {"q": "globex 4999"}, "score", True),
        ("search 山口 (2 chars, no match)", {"q": "山口"}, "created", True),
        ("search 鈴 (1 char) + stage sql, by name", {"q": "鈴", "stage": "sql"}, "name", False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_contact_list")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time the data an earlier --keep-db run left")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each case")
    add_keep_db(parser)
    args = parser.parse_args()

    import sqlalchemy as sa

    from campaigns.audience.contact_filter import SORTS, ContactFilter, decode_cursor, page
    from campaigns.db import Database
    from campaigns.models import ContactList, Segment

    use_database(args.pg_url, args.keep_db, reuse=args.reuse)
    db = Database(args.pg_url)
    if args.reuse:
        with db.begin() as s:
            ids = {"list": s.scalar(sa.select(ContactList.id)), "segment": s.scalar(sa.select(Segment.id))}
            n = int(s.scalar(sa.text("SELECT count(*) FROM contacts")) or 0)
        print(f"reusing {n:,} contacts")
    else:
        print(f"generating {args.contacts:,} contacts ...", flush=True)
        started = time.perf_counter()
        ids = build(db, args.contacts)
        n = args.contacts
        print(f"  generated and analysed in {time.perf_counter() - started:.0f} s", flush=True)
    check_search_text(db)

    results = []
    for name, filter_args, sort_key, descending in cases(ids):
        flt, problems = ContactFilter.parse(filter_args, "Asia/Tokyo")
        assert not problems, (name, problems)
        sort = SORTS[sort_key]
        with db.begin() as s:
            first = page(s, flt, sort, descending, None)  # warm-up
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                page(s, flt, sort, descending, None)
                times.append((time.perf_counter() - t) * 1000)
            # the second page too: it starts from the first one's cursor
            second_ms = None
            if first.next_cursor:
                cursor = decode_cursor(first.next_cursor, sort)
                t = time.perf_counter()
                page(s, flt, sort, descending, cursor)
                second_ms = (time.perf_counter() - t) * 1000
        results.append((name, len(first.contacts), statistics.median(times), max(times), second_ms))
        if args.explain:
            from campaigns.audience.contact_filter import conditions
            from campaigns.models import Contact
            with db.begin() as s:
                order = [c.desc() if descending else c.asc() for c in (*sort.columns, Contact.id)]
                query = sa.select(Contact.id).where(*conditions(s, flt)).order_by(*order).limit(51)
                compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
                print(f"--- {name}")
                for (line,) in s.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}",
                                                              compiled.params):
                    print("   ", line)

    # a page deep in the list: follow 200 cursors, time the last
    flt, _ = ContactFilter.parse({"stage": "warm"}, "Asia/Tokyo")
    sort = SORTS["score"]
    with db.begin() as s:
        cursor = None
        for _ in range(200):
            result = page(s, flt, sort, True, cursor)
            cursor = decode_cursor(result.next_cursor, sort)
        deep = []
        for _ in range(args.runs):
            t = time.perf_counter()
            page(s, flt, sort, True, cursor)
            deep.append((time.perf_counter() - t) * 1000)
    results.append(("stage warm by score, page 201", 50, statistics.median(deep), max(deep), None))

    print(f"\ncontact_filter.page (50 rows) over {n:,} contacts (median of {args.runs} after a warm-up; PostgreSQL):")
    ok = True
    for name, rows, median, worst, second in results:
        passed = median <= TARGET_MS
        ok = ok and passed
        nxt = f"  next page {second:6.1f} ms" if second is not None else ""
        print(f"  {name:<42} {rows:>3} rows  median {median:6.1f} ms  max {worst:6.1f} ms{nxt}  "
              f"{'PASS' if passed else 'FAIL'}")
    print(f"target: <= {TARGET_MS:.0f} ms per page  ->  {'PASS' if ok else 'FAIL'}")
    print("reproduce: .venv/bin/python bench/bench_contact_list.py" + (f" --contacts {n}" if n != 1_000_000 else ""))


if __name__ == "__main__":
    main()
