"""Email delivery: templates, a transactional outbox in PostgreSQL, and a background sender.

A flow writes its message into ``rowgate.mail_outbox`` in the same transaction as the change it
reports (``Mailer.queue``), so a message exists exactly when the change committed.  After commit
the flow wakes the ``MailSender``, which claims due messages (``FOR UPDATE SKIP LOCKED``, so
several instances share the work), hands them to the configured backend (SMTP, or ``.eml`` files
in development) and retries failures on the configured schedule.  An SMTP outage delays mail; it
never loses it, and never changes what the HTTP caller sees.
"""
