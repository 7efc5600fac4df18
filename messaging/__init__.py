"""Messages to patients: confirmations, reminders, moves and cancellations; two-way SMS.

The outbox rows are planned in storage (:mod:`storage.outbox_plan`); this package renders them
(:mod:`messaging.render`, :mod:`messaging.invite`, :mod:`messaging.email_message`), sends them
through a channel (:mod:`messaging.channels`, :mod:`messaging.smtp`, :mod:`messaging.sms_twilio`)
and runs the sender (:mod:`messaging.sender`, :mod:`messaging.loop`); patients' SMS replies are
parsed (:mod:`messaging.sms_replies`) and acted on (:mod:`messaging.sms_inbox`).
"""
