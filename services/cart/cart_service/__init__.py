"""Shopping carts: one per signed-in user, guest carts by token, priced by the product service."""
