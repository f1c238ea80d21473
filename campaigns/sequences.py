"""sequences (being built)."""
