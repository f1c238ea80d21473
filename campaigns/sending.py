"""sending (being built)."""
