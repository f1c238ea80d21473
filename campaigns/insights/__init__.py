"""Insights: reports and KPIs, read from the send ledger, events and hits."""
