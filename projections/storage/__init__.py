"""The storage adapters: the views database on SQLite or PostgreSQL and its tables, the ledger's
PostgreSQL event recorder, connection health, and the event store's protection."""
