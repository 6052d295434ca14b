"""The composition root every entry point starts from: settings, the opened ledger with its
views (bootstrap), and who a caller is (identities)."""
