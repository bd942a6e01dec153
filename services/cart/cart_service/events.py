"""The cart service publishes and consumes no events: checkout takes ordered lines out over HTTP."""
