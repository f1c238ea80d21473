"""Delivery: rendering, MIME, sending, DKIM, SMTP, bounces and the outbox (campaigns.delivery)."""
