"""STARTTLS and SMTP AUTH against a real aiosmtpd server with its own certificate authority."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from campaigns.delivery.sending import DeliveryDeferred, deliver_batch
from campaigns.models import Send, SendStatus
from tests.conftest import SmtpHandler, free_port
from tests.sending_helpers import standard_setup

USER, PASSWORD = "relay-user", "s3cret-パス"


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class TlsHandler(SmtpHandler):
    """Records, per mail, whether the session was encrypted and who logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
        self.sessions.append((session.ssl is not None, login))
        return await super().handle_DATA(server, session, envelope)


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclasses.dataclass
class TlsServer:
    handler: TlsHandler
    port: int
    ca_file: Path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    cert, key = make_certificate(tmp_path, "relay-ca")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = TlsHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_required=True, auth_require_tls=True)
    controller.start()
    yield TlsServer(handler, port, cert)
    controller.stop()


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], tls_server: TlsServer) -> dict[str, Any]:
    return {**app_overrides, "smtp_port": tls_server.port, "smtp_starttls": True,
            "smtp_ca_file": str(tls_server.ca_file), "smtp_username": USER, "smtp_password": PASSWORD}


def statuses(services: Any, ids: list[int]) -> list[SendStatus]:
    with services.db.begin() as s:
        return [s.get(Send, i).status for i in ids]


def test_mail_goes_over_starttls_and_logs_in(services: Any, tls_server: TlsServer) -> None:
    _version, _contacts, ids = standard_setup(services, count=3)
    assert deliver_batch(services, ids)["sent"] == 3
    assert sorted(m.rcpt_tos[0] for m in tls_server.handler.messages) == [f"lead{i}@example.com" for i in range(3)]
    assert tls_server.handler.sessions == [(True, USER)] * 3
    assert statuses(services, ids) == [SendStatus.SENT] * 3


@pytest.mark.parametrize("problem", ["untrusted certificate", "wrong password"])
def test_nothing_is_sent_or_marked_sent_when_the_relay_cannot_be_trusted_or_entered(
    services: Any, tls_server: TlsServer, tmp_path: Path, problem: str
) -> None:
    if problem == "untrusted certificate":  # the relay's certificate is not signed by the CA we were given
        other_ca, _key = make_certificate(tmp_path, "some-other-ca")
        services.settings = dataclasses.replace(services.settings, smtp_ca_file=str(other_ca))
    else:
        services.settings = dataclasses.replace(services.settings, smtp_password="wrong")
    _version, _contacts, ids = standard_setup(services, count=2)
    reason = {"untrusted certificate": "CERTIFICATE_VERIFY_FAILED", "wrong password": "535"}[problem]
    with pytest.raises(DeliveryDeferred, match=reason):
        deliver_batch(services, ids)
    assert tls_server.handler.messages == []
    assert SendStatus.SENT not in statuses(services, ids)


def test_a_server_without_starttls_never_gets_the_mail_in_clear(services: Any, smtp_server: Any) -> None:
    services.settings = dataclasses.replace(services.settings, smtp_port=smtp_server.port, smtp_username="",
                                            smtp_password="")
    _version, _contacts, ids = standard_setup(services, count=2)
    with pytest.raises(DeliveryDeferred, match="does not offer STARTTLS"):
        deliver_batch(services, ids)
    assert smtp_server.messages == []
    assert statuses(services, ids) == [SendStatus.QUEUED] * 2
