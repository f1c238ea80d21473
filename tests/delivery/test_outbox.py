"""The development outbox: a real SMTP server storing mail, its pages, and its process lifecycle."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from campaigns.config import ROOT
from campaigns.delivery.outbox import start_outbox
from campaigns.models import OutboxMessage
from tests.conftest import TEST_REDIS_URL, free_port


def _mail(subject="お知らせ: 新しいホワイトペーパー", to="hanako@example.jp"):
    msg = EmailMessage()
    msg["From"] = "Acme Marketing <marketing@acme.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Plain body for Hanako\nhttps://acme.test/wp")
    msg.add_alternative("<html><body><p class='x'>HTML body for <b>Hanako</b></p>"
                        "<script>alert(1)</script></body></html>", subtype="html")
    return msg


@pytest.fixture
def outbox(services):
    controller = start_outbox(services, port=free_port())
    yield controller
    controller.stop()


def _send(port, *messages):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for m in messages:
            smtp.send_message(m)


def _stored(services):
    with services.db.begin() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for r in rows:
            s.expunge(r)
        return rows


def test_mail_sent_over_smtp_is_stored(services, outbox):
    _send(outbox.port, _mail(), _mail(subject="Second", to="ken@example.jp"))
    rows = _stored(services)
    assert [r.subject for r in rows] == ["お知らせ: 新しいホワイトペーパー", "Second"]
    assert rows[0].recipients == "hanako@example.jp" and rows[0].mail_from == "marketing@acme.test"
    assert "Subject: =?utf-8?" in rows[0].raw  # the raw message as received, RFC 2047 encoded


def test_outbox_pages_list_and_show_a_mail(ui, services, outbox):
    _send(outbox.port, _mail())
    msg_id = _stored(services)[0].id
    listing = ui.get("/outbox/").get_data(as_text=True)
    assert "お知らせ: 新しいホワイトペーパー" in listing and "hanako@example.jp" in listing
    page = ui.get(f"/outbox/{msg_id}").get_data(as_text=True)
    assert f'<iframe class="preview" sandbox title="HTML" src="/outbox/{msg_id}/html"' in page
    assert "Plain body for Hanako" in page  # text part
    assert "Content-Type" in page and "multipart/alternative" in page  # headers
    assert "&lt;script&gt;" in page and "<script>alert" not in page  # raw view is escaped
    html = ui.get(f"/outbox/{msg_id}/html")
    assert "HTML body for <b>Hanako</b>" in html.get_data(as_text=True)
    csp = html.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    raw = ui.get(f"/outbox/{msg_id}/raw")
    assert raw.mimetype == "text/plain" and "multipart/alternative" in raw.get_data(as_text=True)
    assert ui.get("/outbox/999999").status_code == 404


def test_outbox_pagination_and_delete_all(ui, services, outbox):
    from campaigns.views import outbox as outbox_view

    _send(outbox.port, *[_mail(subject=f"Mail {i:02d}") for i in range(outbox_view.PAGE_SIZE + 3)])
    first = ui.get("/outbox/").get_data(as_text=True)
    assert f"Mail {outbox_view.PAGE_SIZE + 2:02d}" in first and "Mail 02</a>" not in first
    older_url = re.search(r'href="(/outbox/\?before=\d+)"', first).group(1)
    older = ui.get(older_url).get_data(as_text=True)
    assert "Mail 00" in older and "Mail 02" in older
    assert ui.get("/outbox/clear").status_code == 405
    resp = ui.post("/outbox/clear", page="/outbox/", follow_redirects=True)
    assert f"Deleted {outbox_view.PAGE_SIZE + 3} messages." in resp.get_data(as_text=True)
    assert _stored(services) == []


def test_prune_keeps_the_newest(services):
    from campaigns.delivery.outbox import prune_outbox, store_message

    with services.db.begin() as s:
        for i in range(12):
            store_message(s, "a@acme.test", ["b@acme.test"], f"Subject: n{i}\r\n\r\nbody".encode())
        assert prune_outbox(s, keep=5) == 7
        assert [m.subject for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))] == \
            [f"n{i}" for i in range(7, 12)]


def test_undecodable_bytes_do_not_lose_the_mail(services, outbox):
    with smtplib.SMTP("127.0.0.1", outbox.port, timeout=10) as smtp:
        smtp.sendmail("a@acme.test", ["b@acme.test"], b"Subject: broken \xff\xfe\r\n\r\nbody \xff\r\n")
    rows = _stored(services)
    assert len(rows) == 1 and "body" in rows[0].raw


def test_app_mail_goes_to_the_outbox_when_no_smtp_host(app_overrides, redis_conn):
    """The development flow: no SMTP_HOST, so the sender's test mail lands in the outbox."""
    from campaigns.delivery.rendering import create_template
    from campaigns.delivery.system_mail import send_test_email
    from wsgi import create_app

    port = free_port()
    app = create_app({**app_overrides, "smtp_host": "", "outbox_port": port})
    svc = app.extensions["nurture"]
    from tests.conftest import truncate_all

    truncate_all(svc.db)
    controller = start_outbox(svc)
    try:
        with svc.db.begin() as s:
            version_id = create_template(s, "T", subject="Hello {{ contact.first_name }}",
                                         html_source="<p>Hi</p>").current_version_id
        with app.app_context():
            send_test_email(svc, version_id, "dev@acme.test")
        rows = _stored(svc)
        assert len(rows) == 1 and rows[0].subject.startswith("[TEST] Hello")
        assert rows[0].recipients == "dev@acme.test"
    finally:
        controller.stop()
        svc.db.dispose()


def _wait_for_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_run_outbox_server_runs_until_sigterm(services, database_url):
    port = free_port()
    code = (
        "from campaigns.config import Settings\n"
        "from campaigns.runtime import Services\n"
        "from campaigns.delivery.outbox import run_outbox_server\n"
        f"svc = Services.build(Settings.from_env({{'outbox_port': {port}}}))\n"
        "run_outbox_server(svc)\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "SECRET_KEY": "x"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        _wait_for_port(port)
        _send(port, _mail(subject="From the process"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.subject == "From the process")) == 1
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the port is released
