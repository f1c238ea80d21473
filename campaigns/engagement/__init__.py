"""Engagement: opens and clicks, buffered on the web side, stored by the hit writer, classified, rolled up."""
