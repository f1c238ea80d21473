"""Engagement: opens and clicks, buffered on the web side, stored by the hit writer, classified, rolled up.

Owns hit_buffer.py (the web side: buffer, flusher thread, fallbacks), hit_writer.py (the writer
process: stream to database, exactly once), stream_append.py (XADD over a bare socket), classify.py
(human, machine open or scanner) and rollups.py (hourly per-campaign counters, count_campaign_event).

May import the platform only (models, ip_privacy). Runs in the web process (tracking/ calls
record_hit), the hit writer (`python worker.py hit-writer`) and wherever an unsubscribe or a
complaint is counted.
"""
