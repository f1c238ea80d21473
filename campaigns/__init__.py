"""Nurture: the core of the lead-nurturing email service (domain, data, sending, admin UI)."""
