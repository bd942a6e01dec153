"""The local Docker stack (compose.yaml, gateway, database and AWS emulator setup), rendered from the routing table."""
