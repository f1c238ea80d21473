"""rendering (being built)."""
