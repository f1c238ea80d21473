"""Where a hand-over webhook may connect: the host is resolved once (names through the resolver, numbers
in every form a resolver reads), every address is checked before any connection, the socket connects only
to a checked address, and every refusal or failure leaves the same trace in the delivery log, so the log
cannot be used to scan ports on the private network.

The receivers are real sockets on loopback. Names other than `localhost` that must resolve to a chosen
address (a private one, or a mix) go through a small stand-in for DNS on `socket.getaddrinfo`; every
other name still goes to the real resolver."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from campaigns.db import now_utc
from campaigns.models import DeliveryState, WebhookDelivery
from campaigns.scoring import handover
from tests.scoring.test_webhooks import Receiver

LOOPBACK_FORMS = ["2130706433", "0x7f000001", "0x7F000001", "017700000001", "0177.0.0.1", "127.1", "0x7f.1",
                  "127.0.1", "0177.0x0.0.01"]


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_an_address_written_as_a_number_is_the_address_a_resolver_reads(form: str) -> None:
    assert handover.numeric_host(form) == "127.0.0.1"
    assert socket.gethostbyname(form) == "127.0.0.1"  # the system's resolver reads it so too: it was a way in


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "4294967296", "0x1.0x2.0x3.0x100", "08.1.1.1"])
def test_numbers_that_are_no_address_are_refused(host: str) -> None:
    with pytest.raises(handover.BlockedAddress):
        handover.resolve(host, 80)


@pytest.mark.parametrize("host", ["example.com", "1e100.net", "receiver.example.co.jp", "0x.example"])
def test_names_are_not_read_as_numbers(host: str) -> None:
    assert handover.numeric_host(host) is None


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """An open port on loopback that records whether anything connected (accept() without blocking)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()  # nothing listens there now: a connection is refused
    return port


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the test makes resolve to chosen addresses (as an internal DNS would); others resolve for real.
    Each lookup of a chosen name is counted under `lookups:<name>`."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            answers.setdefault(f"lookups:{host}", []).append(host)
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, int(port or 0))) for ip in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _allow(services: Any, monkeypatch: pytest.MonkeyPatch, networks: str) -> None:
    monkeypatch.setattr(services, "settings", replace(services.settings, webhook_allowed_networks=networks))


def _attempt(services: Any, url: str) -> tuple[Any, ...]:
    """One delivery attempt to `url` as the hand-over job makes it; what the delivery log then shows."""
    with services.db.begin() as s:
        row = WebhookDelivery(delivery_id="dlv_" + uuid.uuid4().hex, channel="webhook", url=url,
                              payload={"id": "x", "type": "contact.stage_changed"}, state=DeliveryState.PENDING,
                              attempts=0, last_error="", response_excerpt="", history=[], next_retry_at=now_utc())
        s.add(row)
        s.flush()
        delivery_id = row.id
    handover.deliver(services, delivery_id)
    with services.db.begin() as s:
        row = s.get(WebhookDelivery, delivery_id)
        assert row is not None
        attempts = [{k: v for k, v in h.items() if k != "at"} for h in row.history]
        return (row.state, row.attempts, row.last_status, row.last_error, row.response_excerpt, attempts,
                row.next_retry_at is not None)


def test_refusals_and_failed_connections_look_alike_and_nothing_is_connected_before_the_check(
    services: Any, monkeypatch: pytest.MonkeyPatch, listener: socket.socket, dns: dict[str, list[str]],
) -> None:
    _allow(services, monkeypatch, "")  # the default: public addresses only
    open_port, closed_port = listener.getsockname()[1], _closed_port()
    dns["crm.internal.test"] = ["10.20.0.5"]
    dns["mixed.example.test"] = ["93.184.215.14", "127.0.0.1"]
    targets = {
        "an open port on loopback": f"http://127.0.0.1:{open_port}/hook",
        "a closed port on loopback": f"http://127.0.0.1:{closed_port}/hook",
        "a name that resolves to loopback": f"http://localhost:{open_port}/hook",
        "a name that resolves to a private address": f"http://crm.internal.test:{open_port}/hook",
        "a name with a public and a loopback answer": f"http://mixed.example.test:{open_port}/hook",
        "IPv4-mapped IPv6": f"http://[::ffff:127.0.0.1]:{open_port}/hook",
        "the metadata service": "http://169.254.169.254/latest/meta-data/",
        "a name that does not resolve": f"http://no-such-host.invalid:{open_port}/hook",
        **{f"loopback as {form}": f"http://{form}:{open_port}/hook" for form in LOOPBACK_FORMS},
    }
    seen = {what: _attempt(services, url) for what, url in targets.items()}
    assert not _connected(listener), "a refused target was connected to"
    expected = (DeliveryState.RETRYING, 1, None, handover.UNREACHABLE, handover.UNREACHABLE,
                [{"attempt": 1, "status": None, "ok": False, "excerpt": handover.UNREACHABLE[:200]}], True)
    different = {what: log for what, log in seen.items() if log != expected}
    assert not different, different
    assert "10.20.0.5" not in handover.UNREACHABLE and "refused: " not in handover.UNREACHABLE


def test_an_allowed_network_with_a_closed_port_looks_like_a_refusal(
    services: Any, monkeypatch: pytest.MonkeyPatch, listener: socket.socket,
) -> None:
    _allow(services, monkeypatch, "")
    refused = _attempt(services, f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    _allow(services, monkeypatch, "127.0.0.0/8")
    closed = _attempt(services, f"http://127.0.0.1:{_closed_port()}/hook")
    assert refused == closed
    assert not _connected(listener)


def test_a_name_is_resolved_once_and_only_the_checked_address_is_connected(
    services: Any, monkeypatch: pytest.MonkeyPatch, dns: dict[str, list[str]],
) -> None:
    _allow(services, monkeypatch, "127.0.0.0/8")
    with Receiver([200, 200]) as receiver:
        port = receiver.server.server_address[1]
        # One private answer among allowed ones refuses the name: which one a connection takes is chance.
        dns["crm.partner.test"] = ["127.0.0.1", "10.66.0.1"]
        assert _attempt(services, f"http://crm.partner.test:{port}/hooks/nurture")[3] == handover.UNREACHABLE
        assert receiver.requests == []
        # Allowed: the request goes to the checked address, still addressed to the name.
        dns["crm.partner.test"] = ["127.0.0.1"]
        dns["lookups:crm.partner.test"] = []
        state = _attempt(services, f"http://crm.partner.test:{port}/hooks/nurture")
        assert state[:3] == (DeliveryState.DELIVERED, 1, 200)
        assert dns["lookups:crm.partner.test"] == ["crm.partner.test"]  # resolved once, not again to connect
        assert [r["headers"]["Host"] for r in receiver.requests] == [f"crm.partner.test:{port}"]


def test_the_delivery_log_shows_the_one_text_in_the_marketer_s_language(
    services: Any, monkeypatch: pytest.MonkeyPatch, ui: Any,
) -> None:
    _allow(services, monkeypatch, "")
    _attempt(services, "http://10.1.2.3/hook")
    for path in ("/scoring/deliveries", "/scoring/deliveries/1"):
        html = ui.get(path, headers={"Accept-Language": "ja"}).get_data(as_text=True)
        assert "応答なし: 受信先に接続できませんでした" in html and handover.UNREACHABLE not in html, path
        assert handover.UNREACHABLE in ui.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
