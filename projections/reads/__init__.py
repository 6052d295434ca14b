"""The read side's queries: rolls, entitlements, totals, closed months' accounts, payroll lines,
the audit chain, and what a reader asks to know."""
