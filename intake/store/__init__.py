"""The store: the system of record. Tables (``models``), engines and sessions (``db``), the
migrations, mails and their raw bytes (``mails``), and the shared submission queries
(``submissions``)."""
