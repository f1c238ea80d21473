"""mailer (being built)."""
