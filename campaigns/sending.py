"""Idempotent delivery of a batch of Send ids; suppression at send time; bounces.

Contract:
- deliver_batch(svc, send_ids) -> dict of counts; called by jobs.deliver_batch.
- send_test_email(svc, version_id, to_address, contact_id=None) -> None; the template editor's test send.
"""
