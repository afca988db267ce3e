"""The domain: aggregates, the catalog and the business rules as pure functions."""
