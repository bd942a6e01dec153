"""The local stack: embedded Postgres, a local AWS endpoint, every service and the gateway, on 127.0.0.1."""
