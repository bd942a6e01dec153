"""Product catalog: products and the category tree; emits product events through its outbox."""
