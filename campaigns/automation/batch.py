"""What the node runners of one batch share (nodes.py, actions.py): the transaction, the clock, the account's
zone and frequency cap, the counts, and what to do after the commit (enqueue the new sends, the hand-over
deliveries); and JourneyBroken, the failure that belongs to one journey's data."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaigns import timezones
from campaigns.automation.walks import Walk


class JourneyBroken(Exception):
    """A journey's own data cannot be run (a segment that no longer compiles, a node the graph lacks): the
    engine logs it and leaves that journey's walks for later; the other journeys go on."""


@dataclass
class Batch:
    """What the runners of one batch share: the transaction, the clock, the account, and what to do after
    the commit (enqueue the new sends, the hand-over deliveries)."""

    session: Session
    now: datetime
    account_timezone: str
    cap_count: int
    cap_days: int
    counts: Counter[str] = field(default_factory=Counter)
    send_ids: list[int] = field(default_factory=list)
    deliveries: int = 0
    versions: dict[int, int | None] = field(default_factory=dict)  # template id -> current version id
    rng: random.Random = field(default_factory=random.SystemRandom)

    @property
    def postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def zone(self, walk: Walk) -> Any:
        return timezones.zone(walk.timezone, self.account_timezone)
