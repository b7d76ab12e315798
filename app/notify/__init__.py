"""Notifications sent by the background runner (e-mail over SMTP with STARTTLS)."""
