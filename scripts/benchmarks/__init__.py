"""`./scripts/bench`: the ledger measured beside plain sqlite3 and psycopg programs doing the
same reads and writing the same rows, in one run on one machine, reported as ratios."""
