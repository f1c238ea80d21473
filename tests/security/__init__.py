"""Security: authentication, CSRF, XSS, header and template injection, token tampering."""
