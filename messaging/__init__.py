"""Messages to patients (issue 13): channels (SMS, email), two-way SMS, the outbox."""
