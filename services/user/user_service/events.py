"""Events of the user service: it publishes none yet (no other service needs to react to accounts)."""
