"""Building the sender of one process from its application and the configured channels."""

from __future__ import annotations

from app.application import Application
from app.calling_rules import CallingWindow
from messaging.channels import EmailChannel, SmsChannel
from messaging.sender import Sender, SenderConfig
from messaging.smtp import SmtpEmailChannel


def build_sender(
    app: Application, *, sms: SmsChannel | None = None, email: EmailChannel | None = None
) -> Sender | None:
    """The sender over ``app``'s store and settings, or None when no channel is configured.

    Args:
        app: The open application.
        sms: The SMS provider's channel (built from ``ELO_SMS__*`` by its adapter), if any.
        email: An email channel; the SMTP one of ``ELO_EMAIL__*`` when None and configured.
    """
    settings = app.settings
    if email is None and settings.email.configured:
        email = SmtpEmailChannel(settings.email)
    if sms is None and email is None:
        return None
    return Sender(
        store=app.store,
        config=SenderConfig(
            clinic=app.clinic,
            window=CallingWindow.from_settings(settings.calling),
            settings=settings.messages,
            from_address=settings.email.from_address or app.clinic.email or "",
        ),
        sms=sms,
        email=email,
        clock=app.clock,
    )
