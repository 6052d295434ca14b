"""The Ledger application: the command side's one entry, how it records (the unit of work), and
how its events are stored (transcodings, moved topics, idempotency and import progress
records)."""
