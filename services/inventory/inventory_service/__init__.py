"""Stock per product: levels, movements, reservations for checkout; emits StockChanged."""
