"""Audience: who a campaign reaches (segment rules compiled to SQL, static lists, segment triggers)."""
