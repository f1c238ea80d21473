"""Lead capture: contacts, CSV import, forms and subscriptions (campaigns.leads)."""
