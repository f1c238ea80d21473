"""Journeys: sequences, broadcasts and the scheduler that plans them (campaigns.journeys, campaigns.scheduler)."""
