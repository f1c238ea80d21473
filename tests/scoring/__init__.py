"""Lead scoring: rules, stages, triggers and hand-over webhooks (campaigns.scoring)."""
