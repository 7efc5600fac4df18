"""Patient messages (issue 13): SMS and email confirmations, reminders, moves and cancellations.

The outbox rows are planned in storage (:mod:`storage.outbox_plan`); this package renders them
(:mod:`messaging.render`, :mod:`messaging.invite`, :mod:`messaging.email_message`), sends them
through a channel (:mod:`messaging.channels`, :mod:`messaging.smtp`) and runs the sender
(:mod:`messaging.sender`, :mod:`messaging.loop`).
"""
