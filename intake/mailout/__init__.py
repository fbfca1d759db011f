"""Outbound mail: what docintake tells customers, written with the decision, sent exactly once.

- ``outbox``: writes a message row (the whole MIME message, its Message-ID fixed) in the caller's
  transaction; the verdict's transaction in ``worker.jobs`` and the mail's in ``intake.mailin.poller``.
- ``replies``: which messages a verdict owes, to whom (the e-mail on file, never a stranger's
  personal data), in which language; the contact-change alarm.
- ``loops``: never answer auto-replies, bounces or lists; at most N replies per address per day.
- ``compose``: Jinja2 templates (``templates/``) -> plain text + HTML e-mail, SMS text.
- ``senders``: SMTP (``DOCINTAKE_SMTP_URL``) or .eml files in ``<data_dir>/outbox/``; ``sms``:
  an HTTP gateway or text files in ``<data_dir>/outbox/sms/``.
- ``jobs``: the RQ job ``intake.mailout.jobs.send_message`` (by dotted path), enqueueing and the
  reconciler's part (re-enqueue what is still pending after a Redis flush).
"""
