"""Delivery: from a planned send to the SMTP relay (render, MIME, DKIM, rate limit), and bounces back.

Owns sending.py (the idempotent batch job, job_size, enqueue_sends, the stale-send sweep), mime.py
(the message frame, the sender identity and the Message-ID), system_mail.py (test sends, form
confirmations, the hand-over mail), rendering.py, sandbox.py (the Jinja sandbox and its limits: sizes, steps,
CPU time, no reprs), mailer.py (pooled, pipelined SMTP),
dkim_signing.py, ratelimit.py, outbox.py (the development SMTP server) and bounces.py.

May import journeys (exits on a bounce), engagement (complaint counts) and the platform (suppression,
addresses, names, queueing); never leads, audience, scoring, experiments, insights, the UI, the API or
an entry point. Runs in the worker (delivery, confirmation and hand-over mail), the scheduler
(enqueueing, the stale-send sweep), the web process (template compile, previews, test sends, the
bounce webhook), the outbox process and `nurture process-bounces`.
"""
