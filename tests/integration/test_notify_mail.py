"""E-mail notifications over SMTP with STARTTLS against a loopback test server; the password
comes from the vault (an SMTP credential)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import UserError
from app.notify.mail import SmtpSettings, send_mail
from app.services import SiteService
from tests.smtp_server import SmtpTestServer


def test_send_mail_upgrades_with_starttls_before_login(tmp_path: Path) -> None:
    with SmtpTestServer(tmp_path) as srv:
        settings = SmtpSettings("127.0.0.1", srv.port, "notify", "pd@example.org",
                                ("admin@example.org",), cafile=srv.cafile)
        msg_id = send_mail(settings, "s3cret", "Deployment 3 done", "all hosts installed")
        assert len(srv.messages) == 1
        got = srv.messages[0]
        assert got.tls and got.login == ("notify", "s3cret")
        assert got.recipients == ["admin@example.org"]
        assert "Subject: Deployment 3 done" in got.data and msg_id in got.data
        with pytest.raises(UserError, match="refused the login"):
            send_mail(settings, "wrong", "x", "y")
        untrusted = SmtpSettings("127.0.0.1", srv.port, "notify", "", ("a@b.c",))
        with pytest.raises(UserError, match="Cannot send"):  # certificate not trusted
            send_mail(untrusted, "s3cret", "x", "y")
        assert len(srv.messages) == 1


def test_site_notifies_through_the_vaulted_smtp_credential(tmp_path: Path) -> None:
    site = SiteService.open(tmp_path / "n.pdsite", create=True, actor="tech")
    try:
        site.remote.unlock("master pw", create=True)
        with SmtpTestServer(tmp_path) as srv:
            assert site.schedules.notify("nothing configured", "x") == ""
            site.remote.add_smtp_credential("mail", "notify", "s3cret", host="127.0.0.1",
                                            port=srv.port, recipients=("ops@example.org",),
                                            cafile=srv.cafile)
            assert site.schedules.notify("PatchDesk: halted", "deployment 1 halted")
            assert srv.messages[-1].login == ("notify", "s3cret") and srv.messages[-1].tls
            # The password is sealed in the vault, not in the site file's options.
            assert b"s3cret" not in site.path.read_bytes()
        actions = [e.action for e in site.audit_events(limit=10)]
        assert "notify.sent" in actions
    finally:
        site.close()
