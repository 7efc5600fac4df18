"""Labels of the messages outbox for the Messages page and a patient's page (translated there)."""

from __future__ import annotations

from dashboard.i18n import N_

KINDS = {
    "confirmation": N_("Confirmation"),
    "reminder": N_("Reminder"),
    "moved": N_("Moved"),
    "cancelled": N_("Cancelled"),
}
CHANNELS = {"sms": N_("SMS"), "email": N_("Email")}
STATUSES = {
    "pending": N_("Waiting"),
    "sending": N_("Sending"),
    "sent": N_("Sent"),
    "failed": N_("Failed, will retry"),
    "dead": N_("Dead letter"),
    "skipped": N_("Skipped"),
}
# The sender's fixed reasons (messaging/sender.py, storage/messages.py); others show as text.
REASONS = {
    "opted out": N_("The patient opted out of this channel"),
    "appointment or patient gone": N_("The appointment or patient is gone"),
    "no email address": N_("The patient has no email address"),
    "appointment already started": N_("The appointment had already started"),
    "appointment moved": N_("The appointment was moved"),
    "appointment cancelled": N_("The appointment was cancelled"),
    "appointment no-show": N_("The patient did not come"),
    "appointment completed": N_("The appointment took place"),
    "the calling window opens only after the appointment starts": N_(
        "Sending hours open only after the appointment starts"
    ),
}
LABELS = {
    "kinds": KINDS,
    "channels": CHANNELS,
    "message_statuses": STATUSES,
    "reasons": REASONS,
}
