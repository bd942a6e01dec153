"""Order emails (SES or SMTP) and SMS, from order events, with delivery status and retries."""
