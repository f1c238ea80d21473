"""Engagement: tracking endpoints, the hit buffer and writer, classification (campaigns.engagement, tracking)."""
