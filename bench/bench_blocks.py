"""Block mails benchmark: compiling a 30-block mail (blocks -> MJML -> HTML -> a stored version), and what a
block mail costs per recipient when it is sent, against an HTML mail of the same content (its "twin") and
against the HTML mail of bench/bench_sending.py.

  sizes     the compiled HTML of the 30-block mail and of the gallery's mails (blocks_mjml.compile_document)
  compile   validate + MJML (MRML) + the pipeline's compile_version (links, sandbox trial, text part), the
            work done once per saved version; target: at most 50 ms
  mjml      the MRML part alone (validate_document + compile_document)
  render    one recipient's mail from the compiled version (render_message: the sandbox render, signed
            click URLs, the pixel), and the same plus the MIME message the worker hands to SMTP
  smtp      with --send: the message size alone, the real mailer sending one recipient's prebuilt message of
            each mail 3,000 times to smtp-sink (CPU per mail)
  sending   with --send (needs Postfix's /usr/sbin/smtp-sink): bench_sending's 1-worker run, end to end, with
            bench_sending's HTML mail, the 30-block mail, its HTML twin and the gallery's median block mail
            ("gallery", the size of mail marketers send), in turn, --rounds times

The twin: `html_twin` writes the 30-block document as a person writes an HTML mail by hand (headings,
paragraphs, a styled link as the button, one table for each columns row, a <style> that the HTML path's
premailer inlines): the same text, merge tags, images and links, without MJML's tables.

Reproduce (from the repository root):
    .venv/bin/python bench/bench_blocks.py
    .venv/bin/python bench/bench_blocks.py --send --mails 5000 --db sqlite --redis-url redis://127.0.0.1:6379/<free db>
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


_TWIN_STYLE = """<style>
  body { font-family: -apple-system, 'Segoe UI', 'Hiragino Sans', Meiryo, Arial, sans-serif; color: #1d2433; }
  h1 { font-size: 26px; line-height: 1.4; margin: 0 0 16px; }
  h3 { font-size: 17px; line-height: 1.4; margin: 24px 0 8px; }
  p { font-size: 15px; line-height: 1.7; margin: 0 0 12px; }
  a { color: #2f6fde; }
  .button { display: inline-block; background: #2f6fde; color: #ffffff; padding: 12px 28px; border-radius: 6px;
            font-weight: bold; text-decoration: none; }
  .center { text-align: center; }
  hr { border: 0; border-top: 1px solid #6b7280; margin: 16px 0; }
  blockquote { border-left: 4px solid #2f6fde; margin: 16px 0; padding: 4px 0 4px 16px; font-style: italic; }
  .cite { font-size: 13px; color: #6b7280; font-style: normal; }
  .card { background: #f4f5f7; padding: 16px; margin: 16px 0; }
  td.col { vertical-align: top; padding: 0 8px; }
  img { border: 0; display: block; max-width: 100%; height: auto; }
</style>"""


def html_twin(document: dict[str, Any]) -> str:
    """The same mail as a person writes it in the HTML editor (see the module docstring)."""
    def block(b: dict[str, Any], width: int = 552) -> str:
        kind = b["type"]
        if kind == "heading":
            return f"<h{b.get('level', 2)}>{b['text']}</h{b.get('level', 2)}>"
        if kind == "text":
            return b["html"]
        if kind == "image":
            centred = ' style="margin: 0 auto;"' if b.get("align", "center") == "center" else ""
            return f'<p><img src="{b["src"]}" alt="{b["alt"]}" width="{min(width, b.get("width") or width)}"{centred}></p>'
        if kind == "button":
            return f'<p class="center"><a class="button" href="{b["href"]}">{b["label"]}</a></p>'
        if kind == "divider":
            return "<hr>"
        if kind == "spacer":
            return f'<div style="height: {b["height"]}px;"></div>'
        if kind == "quote":
            return f'<blockquote>{b["text"]}<p class="cite">— {b["author"]}, {b["role"]}</p></blockquote>'
        if kind == "card":
            return (f'<div class="card"><img src="{b["image"]["src"]}" alt="{b["image"]["alt"]}" width="520">'
                    f'<h3>{b["title"]}</h3><p>{b["text"]}</p>'
                    f'<p><a class="button" href="{b["link"]["href"]}">{b["link"]["label"]}</a></p></div>')
        if kind == "columns":
            cells = "".join(f'<td class="col" width="{552 // len(b["columns"])}">'
                            + "".join(block(inner, 552 // len(b["columns"]) - 16) for inner in column) + "</td>"
                            for column in b["columns"])
            return f'<table role="presentation" width="100%"><tr>{cells}</tr></table>'
        if kind == "social":
            return '<p class="center">' + " · ".join(
                f'<a href="{link["href"]}">{link["network"]}</a>' for link in b["links"]) + "</p>"
        raise ValueError(kind)

    body = "\n".join(block(b) for b in document["blocks"] if b["type"] != "footer")
    return f"<html><head>{_TWIN_STYLE}</head><body>\n{body}\n</body></html>"


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


def sizes() -> None:
    """Bytes of compiled HTML (UTF-8): the 30-block mail and the gallery's mails, with the default brand kit."""
    from campaigns.delivery import gallery
    from campaigns.delivery.blocks import iter_blocks, validate_document
    from campaigns.delivery.blocks_mjml import BrandKit, compile_document

    def compiled(document: dict[str, Any]) -> tuple[int, int]:
        valid = validate_document(document)
        return len(iter_blocks(valid)) - 1, len(compile_document(valid, BrandKit(), {}, lang="ja").encode())

    blocks, size = compiled(thirty_blocks())
    print(f"compiled HTML: the 30-block mail ({blocks} blocks with the columns' own)  {size:7,} bytes")
    found = sorted((compiled(item.document), f"{language}/{item.key}")
                   for language in gallery.LANGUAGES for item in gallery.starters(language))
    median = found[len(found) // 2]
    print(f"compiled HTML: gallery, {len(found)} mails: smallest {found[0][0][1]:,} ({found[0][1]}), median "
          f"{median[0][1]:,} ({median[1]}), largest {found[-1][0][1]:,} ({found[-1][1]}, {found[-1][0][0]} blocks)")


def median_gallery_mail() -> tuple[str, str, Any]:
    """The gallery's mail of median compiled size (language, key, the starter): the block mail a marketer
    typically sends, which the sending run sets against bench_sending's HTML mail of about the same size."""
    from campaigns.delivery import gallery
    from campaigns.delivery.blocks import validate_document
    from campaigns.delivery.blocks_mjml import BrandKit, compile_document

    found = sorted((len(compile_document(validate_document(item.document), BrandKit(), {}, lang="ja").encode()),
                    language, item.key, item)
                   for language in gallery.LANGUAGES for item in gallery.starters(language))
    _, language, key, item = found[len(found) // 2]
    return language, key, item


def in_process(db_url: str, runs: int) -> None:
    import sqlalchemy as sa

    from bench.bench_sending import HTML
    from campaigns.config import Settings
    from campaigns.db import Base, Database
    from campaigns.delivery import block_mails, mime
    from campaigns.delivery.blocks import validate_document
    from campaigns.delivery.blocks_mjml import BrandKit, compile_document
    from campaigns.delivery.rendering import create_template, render_message
    from campaigns.links import TokenSigner, TrackingUrls
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
    subject = "{{ contact.last_name }}様：資料のご案内 {{ contact.company }}"
    with db.begin() as s:
        account = get_account(s)
        account.company_name, account.postal_address, account.contact_info = "Bench 株式会社", "東京都", "x@bench.test"
        account.language, account.from_email = "ja", "marketing@bench.test"
        mjml_ms = median_ms(lambda: compile_document(validate_document(document), BrandKit(), {}, lang="ja"), runs)
        template = block_mails.create_block_template(s, settings, "blocks", document=document, subject=subject)
        compile_ms = median_ms(lambda: block_mails.save_block_version(s, settings, template, document=document,
                                                                      subject=subject), runs)
        compile_cpu = CPU[0]
        twin_ms = median_ms(lambda: create_template(s, "twin", subject=subject, html_source=html_twin(document)), runs)
        twin_cpu = CPU[0]
        html_ms = median_ms(lambda: create_template(s, "html2", subject=subject, html_source=HTML), runs)
        html_cpu = CPU[0]
        versions = {
            "block mail (30 blocks)": template.current_version,
            "its HTML twin": create_template(s, "twin", subject=subject, html_source=html_twin(document)).current_version,
            "bench_sending's HTML": create_template(s, "html", subject=subject, html_source=HTML).current_version,
        }
        contact = Contact(email="lead@bench.example.com", first_name="太郎", last_name="佐藤", company="株式会社サンプル",
                          attributes={"industry": "IT"})
        s.add(contact)
        s.flush()
        svc = Services.__new__(Services)  # only .urls is read by render_message
        svc.urls = TrackingUrls(settings.base_url, TokenSigner(settings.secret_key))  # type: ignore[misc]
        frame = mime.MessageFrame("marketing@bench.test", "Bench <marketing@bench.test>", "", "=_nurture_bench",
                                  id_key=b"bench" * 8, id_domain="bench.test")
        rows = []
        for name, version in versions.items():
            assert version is not None

            def render(version: Any = version) -> Any:
                return render_message(s, version, contact, svc, send_id=7, account=account)

            def message(version: Any = version) -> bytes:
                """What the worker hands to SMTP for one recipient (without the ledger's reads and writes)."""
                mail = render(version)
                return frame.assemble(to=mime.format_address("佐藤 太郎", "lead@bench.example.com"), subject=mail.subject,
                                      message_id="<7.x@bench.test>", html=mail.html, text=mail.text,
                                      list_unsubscribe=["https://t.bench.test/u/x"])

            render_ms = median_ms(render, runs * 10)
            render_cpu = CPU[0]
            message_ms = median_ms(message, runs * 10)
            message_cpu = CPU[0]
            rows.append((name, render_ms, render_cpu, message_ms, message_cpu, len(render().html.encode()),
                         len(message()), len(version.links)))
            MESSAGES[name] = message()
    db.dispose()
    print(f"compile a 30-block mail to a stored version   {compile_ms:7.1f} ms wall  {compile_cpu:5.1f} ms CPU   "
          f"({'PASS' if compile_ms <= 50 else 'FAIL'}: target <= 50 ms wall)")
    print(f"  of which validate + MJML (MRML)              {mjml_ms:7.1f} ms wall")
    print(f"  its HTML twin, compiled (premailer)          {twin_ms:7.1f} ms wall  {twin_cpu:5.1f} ms CPU   (for comparison)")
    print(f"  bench_sending's HTML, compiled (premailer)   {html_ms:7.1f} ms wall  {html_cpu:5.1f} ms CPU   (for comparison)")
    for name, ms, cpu, message_ms, message_cpu, size, message_size, links in rows:
        print(f"one recipient, {name:24s} render {ms:6.3f} ms ({cpu:5.3f} CPU), render + MIME {message_ms:6.3f} ms "
              f"({message_cpu:5.3f} CPU); HTML {size:6,} bytes, message {message_size:6,} bytes, {links} links")


MESSAGES: dict[str, bytes] = {}  # one recipient's message of each mail (in_process), for smtp_only


def smtp_only(mails: int = 3000, rounds: int = 3) -> None:
    """What the message size alone costs the worker: the real MailerPool (4 connections) sending the same prebuilt
    message `mails` times to smtp-sink, CPU of this process per mail (the mailer's loop runs in a thread of it)."""
    import resource

    import bench.bench_sending as bs
    from campaigns.delivery import mailer

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    sink = bs.start_sink(ARGS.sink_port)
    pool = mailer.MailerPool(mailer.SmtpConfig("127.0.0.1", ARGS.sink_port, connections=4))
    per_mail: dict[str, list[float]] = {name: [] for name in MESSAGES}
    try:
        for _ in range(rounds):
            for name, data in MESSAGES.items():
                batch = [mailer.OutgoingMail(key=i, mail_from="marketing@bench.test", rcpt="lead@bench.example.com",
                                             data=data) for i in range(mails)]
                started = cpu()
                for i in range(0, mails, 500):
                    assert all(outcome.ok for outcome in pool.submit(batch[i : i + 500]).result())
                per_mail[name].append((cpu() - started) / mails * 1000)
    finally:
        pool.close()
        sink.terminate()
        sink.wait()
    for name, values in per_mail.items():
        print(f"SMTP alone, {name:24s} {statistics.median(values):.3f} ms CPU per mail (median of {rounds} rounds "
              f"of {mails:,}; message {len(MESSAGES[name]):,} bytes)")


def sending(db_url: str) -> None:
    """bench_sending's 1-worker run, end to end, with its HTML mail, the block mail and the block mail's HTML twin."""
    import bench.bench_sending as bs
    from campaigns.config import Settings
    from campaigns.db import Database
    from campaigns.delivery import block_mails
    from campaigns.delivery.rendering import create_template
    from campaigns.models import Send

    bs.ARGS = argparse.Namespace(redis_url=ARGS.redis_url, batch=0, worker_class="simple")
    ids, html_version_id = bs.prepare(db_url, ARGS.mails)
    db = Database(db_url)
    settings = Settings.from_env({"database_url": db_url, "secret_key": "bench", "base_url": "https://t.bench.test"})
    subject = "{{ contact.last_name }}様：資料のご案内 {{ contact.company }}"
    with db.begin() as s:
        template = block_mails.create_block_template(s, settings, "blocks", document=thirty_blocks(), subject=subject)
        twin = create_template(s, "twin", subject=subject, html_source=html_twin(thirty_blocks()))
        language, key, starter = median_gallery_mail()
        typical = block_mails.create_block_template(s, settings, f"gallery {language}/{key}", document=starter.document,
                                                    subject=starter.subject)
        mails = {"html": html_version_id, "blocks": template.current_version_id, "twin": twin.current_version_id,
                 "gallery": typical.current_version_id}
    print(f"# gallery: the gallery's median block mail, {language}/{key}, against html (bench_sending's HTML mail)")

    def use(version_id: int | None) -> None:
        from sqlalchemy import update
        with db.begin() as s:
            s.execute(update(Send).values(template_version_id=version_id))

    sink = bs.start_sink(ARGS.sink_port)
    results: dict[str, list[float]] = {name: [] for name in mails}
    cpu: dict[str, list[float]] = {name: [] for name in mails}
    try:
        for number in range(1, ARGS.rounds + 1):
            for name, version_id in mails.items():
                use(version_id)
                r = bs.run_workers(db_url, ids, 1, ARGS.sink_port, 4)
                results[name].append(r["steady_rate"])
                cpu[name].append(r["cpu"])
                print(f"round {number}: {name:6s} 1 worker loopback  steady {r['steady_rate']:6.0f} mails/s  "
                      f"sent {r['sent']}  worker cpu {r['cpu']:.1f}s  load {os.getloadavg()[0]:.1f}")
    finally:
        sink.terminate()
        sink.wait()
        db.dispose()
    rate = {name: statistics.median(values) for name, values in results.items()}
    per_mail = {name: statistics.median(values) / ARGS.mails * 1000 for name, values in cpu.items()}
    print("# median steady rate: " + ", ".join(f"{name} {rate[name]:.0f} mails/s" for name in mails)
          + f"; blocks/twin {rate['blocks'] / rate['twin']:.0%}, blocks/html {rate['blocks'] / rate['html']:.0%}, "
          + f"gallery/html {rate['gallery'] / rate['html']:.0%}")
    print("# worker CPU per mail: " + ", ".join(f"{name} {per_mail[name]:.2f} ms" for name in mails))


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
    sizes()
    in_process(db_url, ARGS.runs)
    if ARGS.send:  # a database of its own: bench_sending's prepare builds its schema from nothing
        smtp_only()
        if ARGS.db == "postgresql":
            sending(use_database(ARGS.pg_url + "_send", False))
        else:
            sending(f"sqlite:///{use_temp_dir('bench_blocks_send_', False)}/bench.db")
    print(f"# load average at end {os.getloadavg()[0]:.1f}")
    print("# reproduce: .venv/bin/python bench/bench_blocks.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
