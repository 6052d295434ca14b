"""The command side: aggregates, the pure money rules and the Ledger application."""
