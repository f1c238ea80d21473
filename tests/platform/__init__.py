"""The platform: app shell, migrations, i18n, RQ workers, Redis settings, tokens, compliance."""
