"""Usage accounting: the ledger, prices, budgets, audit log, team backend and metrics."""
