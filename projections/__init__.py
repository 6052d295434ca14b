"""The read side: projections of the ledger's events into rolls, entitlements and totals."""
