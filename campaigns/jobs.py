"""jobs (being built)."""
