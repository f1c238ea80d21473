"""Delivery: from a planned send to the SMTP relay (render, MIME, DKIM, rate limit), and bounces back."""
