"""Block mails benchmark: compiling a 30-block mail (blocks -> MJML -> HTML -> a stored version), and what
a block mail costs per recipient when it is sent, against the HTML mail of bench/bench_sending.py.

  compile   validate + MJML (MRML) + the pipeline's compile_version (links, sandbox checks, text part), the
            work done once per saved version; target: at most 50 ms
  mjml      the MRML part alone (validate_document + compile_document)
  render    one recipient's mail from the compiled version (render_message: the sandbox render, signed
            click URLs, the pixel): the only step of sending that differs between a block and an HTML mail
  sending   with --send (needs Postfix's /usr/sbin/smtp-sink): bench_sending's 1-worker run, end to end,
            with its HTML mail and with a block mail of the same content and links, alternately, --rounds times

Reproduce (from the repository root):
    .venv/bin/python bench/bench_blocks.py
    .venv/bin/python bench/bench_blocks.py --send --mails 5000 --db sqlite
Options: --runs 21 (timed runs per figure; medians), --send, --mails 5000, --rounds 3, --db sqlite|postgresql,
--pg-url (default postgresql://postgres@127.0.0.1:5432/bench_blocks), --redis-url (default DB 1), --sink-port 2526.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import use_database, use_temp_dir  # noqa: E402

LINKS = [f"https://example.com/{slug}" for slug in (
    "whitepaper.pdf", "cases/manufacturing", "cases/it", "webinar", "pricing", "demo", "blog/nurture-101",
    "events/tokyo", "support", "about")]


def thirty_blocks() -> dict[str, Any]:
    """A realistic long mail of 30 blocks (plus the footer): every block type, columns, ten links."""
    para = ("<p>{{ contact.company | default(\"貴社\") }}の皆さまに役立つ「リードナーチャリング実践ガイド」をお届けします。"
            "<strong>導入事例</strong>と<a href=\"%s\">詳しい手順</a>をご覧ください。</p>")
    blocks: list[dict[str, Any]] = [
        {"type": "image", "src": "https://cdn.example.com/logo.png", "alt": "Acme", "width": 160, "align": "left"},
        {"type": "heading", "text": "{{ contact.last_name | default(\"お客\") }}様、資料のダウンロードありがとうございます",
         "level": 1},
        {"type": "text", "html": para % LINKS[0]},
        {"type": "button", "label": "ホワイトペーパーを開く", "href": LINKS[0]},
        {"type": "divider"},
    ]
    for i in range(1, 9):
        blocks.append({"type": "heading", "text": f"事例 {i}", "level": 3})
        blocks.append({"type": "text", "html": para % LINKS[i]})
    blocks += [
        {"type": "columns", "columns": [
            [{"type": "image", "src": "https://cdn.example.com/a.png", "alt": "製造業"}, {"type": "text", "html": "<p>製造業</p>"}],
            [{"type": "image", "src": "https://cdn.example.com/b.png", "alt": "IT"}, {"type": "text", "html": "<p>IT</p>"}],
            [{"type": "image", "src": "https://cdn.example.com/c.png", "alt": "金融"}, {"type": "text", "html": "<p>金融</p>"}],
        ]},
        {"type": "quote", "text": "商談化率が2.3倍になりました。", "author": "佐藤", "role": "営業部長"},
        {"type": "card", "title": "IT企業：MQL 数 40% 増", "text": "導入から半年の成果です。",
         "image": {"src": "https://cdn.example.com/case.png", "alt": "事例"}, "link": {"label": "読む", "href": LINKS[2]}},
        {"type": "spacer", "height": 24},
        {"type": "columns", "columns": [
            [{"type": "button", "label": "デモを予約", "href": LINKS[5]}],
            [{"type": "button", "label": "料金プラン", "href": LINKS[4]}],
        ]},
        {"type": "divider"},
        {"type": "text", "html": f"<p>ご不明点は<a href=\"{LINKS[8]}\">サポート</a>まで。<a href=\"{LINKS[9]}\">会社概要</a></p>"},
        {"type": "social", "links": [{"network": "x", "href": "https://x.com/acme"},
                                     {"network": "linkedin", "href": "https://www.linkedin.com/company/acme"}]},
        {"type": "spacer", "height": 16},
    ]
    while len(blocks) < 30:
        blocks.append({"type": "text", "html": "<p>リードナーチャリングは、見込み客との関係を継続的に育てる取り組みです。</p>"})
    assert len(blocks) == 30
    return {"blocks": blocks}


CPU: list[float] = []  # the CPU-time median of the last median_ms call


def median_ms(fn: Any, runs: int) -> float:
    """Median wall-clock ms of `runs` calls; CPU[0] gets the median CPU ms of this process (immune to other
    processes taking turns on a loaded machine)."""
    fn()  # warm: imports, caches
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    CPU[:] = [statistics.median(cpu)]
    return statistics.median(times)


def in_process(db_url: str, runs: int) -> None:
    import sqlalchemy as sa

    from bench.bench_sending import HTML
    from campaigns.config import Settings
    from campaigns.db import Base, Database
    from campaigns.delivery import block_mails
    from campaigns.delivery.blocks import validate_document
    from campaigns.delivery.blocks_mjml import BrandKit, compile_document
    from campaigns.delivery.rendering import create_template, render_message
    from campaigns.models import Contact, create_all
    from campaigns.runtime import Services
    from campaigns.users import get_account

    db = Database(db_url)
    with db.engine.begin() as conn:
        for table in [*Base.metadata.tables, "alembic_version"]:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"' + (" CASCADE" if db.dialect == "postgresql" else "")))
    create_all(db)
    settings = Settings.from_env({"database_url": db_url, "secret_key": "bench", "base_url": "https://t.bench.test"})
    document = thirty_blocks()
    with db.begin() as s:
        account = get_account(s)
        account.company_name, account.postal_address, account.contact_info = "Bench 株式会社", "東京都", "x@bench.test"
        account.language = "ja"
        mjml_ms = median_ms(lambda: compile_document(validate_document(document), BrandKit(), {}, lang="ja"), runs)
        template = block_mails.create_block_template(s, settings, "blocks", document=document, subject="s")
        compile_ms = median_ms(lambda: block_mails.save_block_version(s, settings, template, document=document,
                                                                      subject="{{ contact.last_name }}様"), runs)
        compile_cpu = CPU[0]
        block_version = template.current_version
        html_version = create_template(s, "html", subject="{{ contact.last_name }}様", html_source=HTML).current_version
        html_compile_ms = median_ms(lambda: create_template(s, "html2", subject="s", html_source=HTML), runs)
        contact = Contact(email="lead@bench.example.com", first_name="太郎", last_name="佐藤", company="株式会社サンプル",
                          attributes={"industry": "IT"})
        s.add(contact)
        s.flush()
        svc = Services.__new__(Services)  # only .urls is read by render_message
        from campaigns.links import TokenSigner, TrackingUrls
        svc.urls = TrackingUrls(settings.base_url, TokenSigner(settings.secret_key))  # type: ignore[misc]
        render_block = median_ms(lambda: render_message(s, block_version, contact, svc, send_id=7, account=account), runs * 10)
        render_html = median_ms(lambda: render_message(s, html_version, contact, svc, send_id=7, account=account), runs * 10)
        sizes = (len(render_message(s, block_version, contact, svc, send_id=7, account=account).html),
                 len(render_message(s, html_version, contact, svc, send_id=7, account=account).html))
        links = (len(block_version.links), len(html_version.links))
    db.dispose()
    print(f"compile a 30-block mail to a stored version   {compile_ms:7.1f} ms   "
          f"({'PASS' if compile_ms <= 50 else 'FAIL'}: target <= 50 ms; CPU time {compile_cpu:.1f} ms)")
    print(f"  of which validate + MJML (MRML)              {mjml_ms:7.1f} ms")
    print(f"  the HTML mail of bench_sending, compiled     {html_compile_ms:7.1f} ms   (premailer; for comparison)")
    print(f"render one recipient: block mail               {render_block:7.3f} ms   ({sizes[0]:,} bytes of HTML, {links[0]} links)")
    print(f"render one recipient: bench_sending's HTML     {render_html:7.3f} ms   ({sizes[1]:,} bytes of HTML, {links[1]} links)")


def sending(db_url: str) -> None:
    """bench_sending's 1-worker run, end to end, with its HTML mail and with a block mail, alternately."""
    import bench.bench_sending as bs
    from campaigns.config import Settings
    from campaigns.db import Database
    from campaigns.delivery import block_mails
    from campaigns.models import Send, Template

    bs.ARGS = argparse.Namespace(redis_url=ARGS.redis_url, batch=0, worker_class="simple")
    ids, html_version_id = bs.prepare(db_url, ARGS.mails)
    db = Database(db_url)
    settings = Settings.from_env({"database_url": db_url, "secret_key": "bench", "base_url": "https://t.bench.test"})
    with db.begin() as s:
        template = block_mails.create_block_template(s, settings, "blocks", document=thirty_blocks(),
                                                     subject="{{ contact.last_name }}様：資料のご案内 {{ contact.company }}")
        block_version_id = template.current_version_id
        assert s.get(Template, template.id) is not None

    def use(version_id: int) -> None:
        from sqlalchemy import update
        with db.begin() as s:
            s.execute(update(Send).values(template_version_id=version_id))

    sink = bs.start_sink(ARGS.sink_port)
    results: dict[str, list[float]] = {"html": [], "blocks": []}
    try:
        for number in range(1, ARGS.rounds + 1):
            for name, version_id in (("html", html_version_id), ("blocks", block_version_id)):
                use(version_id)
                r = bs.run_workers(db_url, ids, 1, ARGS.sink_port, 4)
                results[name].append(r["steady_rate"])
                print(f"round {number}: {name:6s} 1 worker loopback  steady {r['steady_rate']:6.0f} mails/s  "
                      f"sent {r['sent']}  cpu {r['cpu']:.1f}s")
    finally:
        sink.terminate()
        sink.wait()
        db.dispose()
    html, blocks = statistics.median(results["html"]), statistics.median(results["blocks"])
    print(f"# median: html {html:.0f} mails/s, blocks {blocks:.0f} mails/s, blocks/html {blocks / html:.0%}")


ARGS: Any = None


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--send", action="store_true")
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_blocks")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--sink-port", type=int, default=2526)
    ARGS = parser.parse_args()
    if ARGS.db == "postgresql":
        db_url = use_database(ARGS.pg_url, False)
    else:
        db_url = f"sqlite:///{use_temp_dir('bench_blocks_', False)}/bench.db"
    print(f"# block mails benchmark: db {ARGS.db}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"python {sys.version.split()[0]}")
    in_process(db_url, ARGS.runs)
    if ARGS.send:  # a database of its own: bench_sending's prepare builds its schema from nothing
        if ARGS.db == "postgresql":
            sending(use_database(ARGS.pg_url + "_send", False))
        else:
            sending(f"sqlite:///{use_temp_dir('bench_blocks_send_', False)}/bench.db")
    print(f"# load average at end {os.getloadavg()[0]:.1f}")
    print("# reproduce: .venv/bin/python bench/bench_blocks.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
