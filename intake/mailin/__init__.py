"""Mail in: mailboxes (IMAP, Maildir) are polled, each mail parsed for its PDFs and containers,
recorded in the store, and every submission queued (``poller`` ties ``sources``, ``parse``,
``spool`` and ``record`` together; ``locks`` keeps one poller per mailbox)."""
