"""Reports and the KPI dashboard (campaigns.insights)."""
