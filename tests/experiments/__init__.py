"""A/B tests: the statistics, their simulation, the service, UI and API (campaigns.experiments)."""
