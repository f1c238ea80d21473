"""The JSON API /api/v1 (campaigns.api): routes, validation, OpenAPI and fuzzing."""
