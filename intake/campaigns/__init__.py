"""Refresh campaigns: customers whose data is old or incomplete get a personal pre-filled form.

- ``selection``: which customers (``--stale-months``, ``--country``, ``--missing``).
- ``create``: one campaign, its recipients and their e-mails (the form built by
  ``forms.prefill.personal_form``), written to the outbox and queued.
- ``tracking``: a signed form that comes back is linked to the campaign by customer and time
  (no tracking pixels): sent -> applied | rejected; the dashboard's response rate.
- ``cli``: ``docintake campaign create|list``.
"""
