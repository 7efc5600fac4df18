"""Building the sender of one process from its application and the configured channels."""

from __future__ import annotations

from app.application import Application
from app.calling_rules import CallingWindow
from messaging.channels import EmailChannel, SmsChannel
from messaging.sender import Sender, SenderConfig
from messaging.sms_twilio import sms_channel
from messaging.smtp import SmtpEmailChannel


def build_sender(
    app: Application, *, sms: SmsChannel | None = None, email: EmailChannel | None = None
) -> Sender | None:
    """The sender over ``app``'s store and settings, or None when no channel is configured.

    Args:
        app: The open application.
        sms: An SMS channel; Twilio's of ``ELO_SMS__*`` when None and a provider is chosen.
        email: An email channel; the SMTP one of ``ELO_EMAIL__*`` when None and configured.

    Raises:
        ConfigError: An SMS provider is chosen but a setting it needs is missing (named).
    """
    settings = app.settings
    if sms is None and settings.sms.configured:
        sms = sms_channel(settings.sms)
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
