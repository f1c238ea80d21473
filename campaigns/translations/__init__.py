"""Japanese UI strings, one module per area of the UI, each exporting a JA dict."""
