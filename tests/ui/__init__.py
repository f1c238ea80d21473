"""The web UI's views without a browser (campaigns.views): builders, editors and their JSON endpoints."""
