"""The domain: one module per capability; public functions own one transaction."""
