"""Fault injection on real processes: crashes, SIGKILL, Redis and SMTP failures, downtime, scale-out."""
