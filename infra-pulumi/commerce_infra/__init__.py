"""Infrastructure derived from the routing table: the local compose stack and the AWS (Pulumi) stack."""
