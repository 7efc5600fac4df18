"""Email over SMTP (aiosmtplib): the :class:`~messaging.channels.EmailChannel` of Elo.

SMTP's answers map onto the channel contract: a 5xx reply (mailbox unknown, message refused,
authentication refused) is permanent (RFC 5321 section 4.2.1: "permanent negative completion"),
a 4xx reply, a refused or dropped connection or a timeout is temporary (sent again later). The
password is a secret: it is never logged, and error reasons name only the reply code.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from config.settings_messages import EmailSettings
from messaging.channels import PermanentSendError, Sent, TemporarySendError


def _by_code(code: int, what: str) -> TemporarySendError | PermanentSendError:
    reason = f"smtp {code} ({what})"
    return PermanentSendError(reason) if 500 <= code < 600 else TemporarySendError(reason)


class SmtpEmailChannel:
    """Sends each email in its own SMTP session (a clinic sends a few hundred a day).

    Args:
        settings: The ``ELO_EMAIL__*`` settings (host, port, TLS, user, password).
    """

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    async def send(self, message: object, *, idempotency_key: str) -> Sent:
        """Send ``message`` (an :class:`email.message.EmailMessage` with its Message-ID).

        Raises:
            TemporarySendError: A 4xx reply, the connection failed or timed out.
            PermanentSendError: A 5xx reply (every recipient refused, message or login refused).
        """
        if not isinstance(message, EmailMessage) or not message["Message-ID"]:
            raise PermanentSendError("not an email with a Message-ID")
        s = self._settings
        password = s.password.get_secret_value()
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.user or None,
                password=password if s.user else None,
                use_tls=s.tls == "implicit",
                start_tls=True if s.tls == "starttls" else False,
                cert_bundle=str(s.ca_file) if s.ca_file else None,
                timeout=s.timeout_secs,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [450]
            # One recipient per message: its code decides; several: permanent only if all are.
            code = (
                min(codes)
                if all(500 <= c < 600 for c in codes)
                else max(c for c in codes if c < 500)
            )
            raise _by_code(code, "recipient refused") from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected) as exc:
            raise TemporarySendError(f"smtp connection failed ({type(exc).__name__})") from None
        except aiosmtplib.SMTPTimeoutError:
            raise TemporarySendError("smtp timeout") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, type(exc).__name__) from None
        except aiosmtplib.SMTPException as exc:
            raise TemporarySendError(f"smtp error ({type(exc).__name__})") from None
        except OSError as exc:
            raise TemporarySendError(f"smtp connection failed ({type(exc).__name__})") from None
        return Sent(provider_id=str(message["Message-ID"]), status="accepted")
