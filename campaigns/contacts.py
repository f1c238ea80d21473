"""contacts (being built)."""
