"""Leads: contacts (normalisation, upsert, suppression), CSV imports, hosted forms, unsubscribe and preferences."""
