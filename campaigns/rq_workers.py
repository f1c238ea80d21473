"""RQ's worker classes with a shutdown that cannot stall (worker.py runs them; tests drain queues with them).

Every RQ worker keeps a thread listening on its pub/sub channel (stop/kill commands), blocked for up to
60 s (RQ's `sleep_time`) in `PubSub.get_message`. RQ 3 shuts it down as: UNSUBSCRIBE, then
`PubSubWorkerThread.stop()`, relying on the unsubscribe reply to wake the thread. If the thread reads
that reply *before* stop() has cleared its running flag, it loops, finds no subscription left and
waits up to 60 s for one; since redis-py 8.2, stop() joins the thread with no time limit, so the whole
worker waits too. bench/bench_sending.py saw it in 2 of 6 two-worker runs: 20,000 mails sent in 6-7 s,
the processes exiting ~60 s later. In production that is a restart or deploy held for a minute.

Clearing the flag first makes the order safe: whichever moment the reply arrives, the thread leaves its
loop when it returns. If it has already gone back to waiting (the reply was read by an earlier
unsubscribe), the join is bounded and the daemon thread is left to end with the process.
"""

from __future__ import annotations

from rq import SimpleWorker, Worker
from rq.worker.base import BaseWorker

PUBSUB_JOIN_SECONDS = 1.0


class _PromptShutdown(BaseWorker):
    """RQ's BaseWorker.unsubscribe with the listener thread flagged to stop before the UNSUBSCRIBE."""

    def unsubscribe(self) -> None:
        """Stop listening for worker commands at shutdown (RQ's teardown), within ~PUBSUB_JOIN_SECONDS."""
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        thread.stop(timeout=0)  # clears the running flag; joins nothing
        pubsub.unsubscribe()  # its reply wakes the thread, which now leaves its loop
        thread.join(timeout=PUBSUB_JOIN_SECONDS)
        pubsub.close()


class NurtureSimpleWorker(_PromptShutdown, SimpleWorker):
    """Runs jobs in the worker process (the default: the SMTP pool and compiled templates are reused)."""


class NurtureForkWorker(_PromptShutdown, Worker):
    """Forks a work horse per job (NURTURE_WORKER_CLASS=fork)."""
