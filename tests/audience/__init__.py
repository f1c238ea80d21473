"""Audience: segments, static lists and segment triggers (campaigns.audience)."""
