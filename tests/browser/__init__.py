"""Headless Chromium tests of the UI (marker: browser)."""
