"""E-mail over SMTP with STARTTLS (stdlib ``smtplib``); the password comes from the vault.

The message is plain text; the connection upgrades with STARTTLS before the login and is
refused if the server does not offer it (a password never crosses the network in clear).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from app.core.errors import UserError


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send: the SMTP credential's public part."""

    host: str
    port: int = 587
    username: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    starttls: bool = True
    cafile: str = ""  # a CA bundle to trust instead of the system's (a private server)


def send_mail(settings: SmtpSettings, password: str | None, subject: str, body: str, *,
              timeout: float = 30.0) -> str:
    """Send one message to every recipient; returns its Message-ID.

    Raises:
        UserError: no recipients, the server refuses STARTTLS or the login, or it cannot be
            reached (the reason in words).
    """
    if not settings.recipients:
        raise UserError("No e-mail recipients are set for notifications.")
    msg = EmailMessage()
    msg["From"] = settings.sender or settings.username or f"patchdesk@{settings.host}"
    msg["To"] = ", ".join(settings.recipients)
    msg["Subject"] = " ".join(subject.split())[:200]
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="patchdesk.local")
    msg.set_content(body)
    context = ssl.create_default_context(cafile=settings.cafile or None)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise UserError(f"{settings.host} does not offer STARTTLS; not sending "
                                    "(the password would go in clear)")
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username and password:
                smtp.login(settings.username, password)
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise UserError(f"{settings.host} refused the login: {exc.smtp_code}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise UserError(f"Cannot send e-mail via {settings.host}:{settings.port}: "
                        f"{exc}") from None
    return str(msg["Message-ID"])
