"""CSV import benchmark: rows/s for 100,000 rows and peak memory for a 1,000,000-row file.

Each import runs in a fresh subprocess (the real code path: start_import + run_import, as the RQ job
does) which reports its own peak RSS from resource.getrusage, on SQLite and on PostgreSQL.

Reproduce (from the repository root):
    .venv/bin/python bench/bench_import.py                      # both databases, 100k and 1M rows
    .venv/bin/python bench/bench_import.py --rows 100000 --db sqlite
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_h3), --redis-url (default DB 3),
--rows (repeatable), --db sqlite|postgresql (repeatable), --workdir.
Targets (issue 2): >= 10,000 rows/s for 100,000 rows; peak memory < 300 MB for 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, ensure_database, use_database, use_temp_dir  # noqa: E402

HEADER = "メールアドレス,姓,名,会社名,役職,業種,従業員数,電話番号,タイムゾーン\r\n"
LAST = ["山田", "佐藤", "鈴木", "高橋", "田中", "Smith", "Garcia", "伊藤", "渡辺", "中村"]
FIRST = ["太郎", "花子", "一郎", "美咲", "John", "Maria", "健", "さくら", "翔", "陽菜"]
COMPANIES = ["株式会社山田商事", "サンプル株式会社", "Acme Corp", "㈱テスト", "Globex KK", "合同会社ミライ"]
TITLES = ["部長", "課長", "CTO", "マーケティング担当", "営業", ""]
INDUSTRIES = ["製造業", "IT", "小売", "金融", "不動産"]


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A realistic UTF-8 (BOM) CSV as Excel writes it; ~1% duplicate addresses, ~0.5% bad rows."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write(HEADER)
        for i in range(rows):
            r = rng.random()
            if r < 0.005:
                email = f"broken-{i}-at-example.com"
            elif r < 0.015 and i > 0:
                email = f"lead{rng.randrange(i)}@example.co.jp"
            else:
                email = f"lead{i}@example.co.jp"
            f.write(
                f"{email},{rng.choice(LAST)},{rng.choice(FIRST)},{rng.choice(COMPANIES)},{rng.choice(TITLES)},"
                f"{rng.choice(INDUSTRIES)},{rng.randint(5, 5000)},0{rng.randint(100000000, 999999999)},"
                f"Asia/Tokyo\r\n"
            )


def reset_database(url: str) -> None:
    """Empty schema for a fair run (the benchmark database only)."""
    from campaigns.db import Database
    from campaigns.models import create_all, drop_all

    if url.startswith("postgresql"):
        ensure_database(url)
    db = Database(url)

    drop_all(db)
    create_all(db)
    db.dispose()


def child(db_url: str, redis_url: str, csv_path: str, mode: str) -> None:
    """Run one import in this process and print JSON with its figures (called by the parent)."""
    from campaigns.leads.imports import run_import, start_import
    from campaigns.models import ImportJob
    from wsgi import create_app

    app = create_app({"database_url": db_url, "redis_url": redis_url, "secret_key": "bench"})
    svc = app.extensions["nurture"]
    with svc.db.begin() as s:
        job_id = start_import(s, csv_path, Path(csv_path).name, {"mode": mode, "source": "bench", "mapping": {
            "0": "email", "1": "last_name", "2": "first_name", "3": "company", "4": "job_title",
            "5": "attributes.industry", "6": "attributes.employees", "7": "attributes.phone", "8": "timezone",
        }}).id
    started, cpu0 = time.perf_counter(), time.process_time()
    run_import(svc, job_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    with svc.db.begin() as s:
        job = s.get(ImportJob, job_id)
        assert job is not None
        out = {"status": str(job.status), "rows": job.processed, "created": job.created, "updated": job.updated,
               "duplicates": job.duplicates, "failed": job.failed, "seconds": seconds, "cpu_seconds": cpu,
               "rows_per_s": job.processed / seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(out))


def child_list(db_url: str, redis_url: str) -> None:
    """Time the contacts list view (keyset pages, search) on the imported contacts; prints JSON."""
    import re

    from sqlalchemy import func, select

    from campaigns.models import Contact
    from campaigns.users import create_user
    from wsgi import create_app

    app = create_app({"database_url": db_url, "redis_url": redis_url, "secret_key": "bench"})
    svc = app.extensions["nurture"]
    login = f"bench{time.time_ns()}@example.com"
    with svc.db.begin() as s:
        total = s.scalar(select(func.count()).select_from(Contact))
        mid = s.scalar(select(func.max(Contact.id))) // 2
        create_user(s, login, "benchmark-password")
        email = s.scalar(select(Contact.email).where(Contact.id == mid + 7))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": login, "password": "benchmark-password", "csrf_token": token})
    out: dict[str, float | int] = {"contacts": total}
    for name, url in (("first page", "/contacts/"), ("page after the middle id", f"/contacts/?after={mid}"),
                      ("search: exact address", f"/contacts/?q={email}"),
                      ("search: common word", "/contacts/?q=%E6%A0%AA%E5%BC%8F"),
                      ("search: no match (stops at the time budget)", "/contacts/?q=zzzz")):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - started)
            assert resp.status_code == 200, resp.status_code
        out[name] = sorted(times)[len(times) // 2] * 1000
    print(json.dumps(out))


def run_child(db_url: str, redis_url: str, csv_path: Path, mode: str) -> dict[str, float]:
    if mode == "list":
        cmd = [sys.executable, __file__, "--child-list", db_url, redis_url]
    else:
        cmd = [sys.executable, __file__, "--child", db_url, redis_url, str(csv_path), mode]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def calibrate() -> str:
    """How busy the machine is: load average and the time of an empty 10M-iteration loop (quiet: ~0.3 s)."""
    started = time.process_time()
    for _ in range(10_000_000):
        pass
    return f"loadavg {os.getloadavg()[0]:.1f}, empty loop 10M: {time.process_time() - started:.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_h3")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-list", nargs=2, help=argparse.SUPPRESS)
    add_keep_db(parser)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.child_list:
        child_list(*args.child_list)
        return
    sizes = args.rows or [100_000, 1_000_000]
    dbs = args.db or ["sqlite", "postgresql"]
    # the CSVs and the SQLite file; a --workdir of one's own is left, its bench.db dropped unless --keep-db
    workdir = Path(args.workdir) if args.workdir else use_temp_dir("bench_import_", args.keep_db)
    for db in dbs:
        use_database(f"sqlite:///{workdir / 'bench.db'}" if db == "sqlite" else args.pg_url, args.keep_db)
    print(f"# CSV import benchmark  ({os.cpu_count()} cores, python {sys.version.split()[0]}, workdir {workdir})")
    print(f"# machine load: {calibrate()}")
    print(f"{'db':<11} {'rows':>9} {'mode':<7} {'created':>9} {'updated':>9} {'dups':>6} {'bad':>6} "
          f"{'seconds':>8} {'cpu s':>6} {'rows/s':>8} {'rows/cpu-s':>10} {'peak RSS MB':>11}")
    results = []
    for rows in sizes:
        csv_path = workdir / f"leads_{rows}.csv"
        if not csv_path.exists():
            t = time.perf_counter()
            make_csv(csv_path, rows)
            print(f"# generated {csv_path.name}: {csv_path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f}s")
        for db in dbs:
            url = f"sqlite:///{workdir / 'bench.db'}" if db == "sqlite" else args.pg_url
            if db == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{workdir / 'bench.db'}{suffix}").unlink(missing_ok=True)
            reset_database(url)
            # first into an empty database (inserts), then the same file again (every row an update)
            modes = ["update", "update"] if rows <= 100_000 else ["update"]
            for i, mode in enumerate(modes):
                r = run_child(url, args.redis_url, csv_path, mode)
                label = "create" if i == 0 else "update"
                results.append({"db": db, "size": rows, "pass": label, **r})
                print(f"{db:<11} {r['rows']:>9} {label:<7} {r['created']:>9} {r['updated']:>9} "
                      f"{r['duplicates']:>6} {r['failed']:>6} {r['seconds']:>8.1f} {r['cpu_seconds']:>6.1f} {r['rows_per_s']:>8.0f} "
                      f"{r['rows'] / r['cpu_seconds']:>10.0f} "
                      f"{r['peak_rss_mb']:>11.0f}", flush=True)
            if rows >= 1_000_000:
                listing = run_child(url, args.redis_url, csv_path, "list")
                print(f"# {db}: contacts list view at {listing.pop('contacts')} contacts (median of 5, ms): "
                      + ", ".join(f"{k} {v:.0f}" for k, v in listing.items()), flush=True)
                results.append({"db": db, "size": rows, "pass": "list", "rows_per_s": 0, "peak_rss_mb": 0,
                                **{f"list {k}": v for k, v in listing.items()}})
    ok_speed = all(r["rows_per_s"] >= 10_000 for r in results if r["size"] == 100_000)
    ok_mem = all(r["peak_rss_mb"] < 300 for r in results if r["size"] >= 1_000_000 and r["pass"] != "list")
    print(f"# machine load after: {calibrate()}")
    print(f"# targets: 100k rows >= 10,000 rows/s: {'PASS' if ok_speed else 'FAIL'}; "
          f"1M rows peak RSS < 300 MB: {'PASS' if ok_mem else 'FAIL'}")
    print("# reproduce: .venv/bin/python bench/bench_import.py "
          + " ".join(f"--rows {n}" for n in sizes) + " " + " ".join(f"--db {d}" for d in dbs))


if __name__ == "__main__":
    main()
