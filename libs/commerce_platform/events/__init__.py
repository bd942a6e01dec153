"""Reliable events: envelope, transactional outbox and relay, idempotent SQS consumers.

The API contract every publisher and consumer codes against is in README.md beside this file.
"""
