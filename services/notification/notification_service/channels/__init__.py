"""Delivery channels: email (SMTP or SES) and SMS (SNS)."""
