"""``docintake bench`` and what it shares with the tests: ``command`` (the stages and the CLI),
``report`` (table, targets, plot), ``corpus`` (signed forms and mails from the demo PKI),
``child`` (a decision or a poll measured in a fresh process), ``peer`` (a decision process for
comparing two checkouts), ``pipeline`` (the end-to-end matrix), ``imap`` (a private dovecot, also
the tests' IMAP server), ``adversarial`` (hostile inputs of the memory stage and the fuzzer),
``campaign`` (10,000 personal forms generated and queued)."""
