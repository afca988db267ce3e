"""The service layer: one submit path, queries, history and audit, over the domain."""
