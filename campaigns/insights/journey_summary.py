"""The reports index's journey section: each live or paused journey, who is in it now and how its walks ended.

One grouped query over journey_enrolments for every journey shown (the walks' status per journey), never
journey_stats per journey: that one reads a journey's graph, path log and mail ledger for its own report
(campaigns.automation.report, the canvas), which the section links to. Counting as the journey's own totals:
test walks (the marketer's own address) are left out; a contact who walked twice (re-entry) is two walks.
"Goal rate" is converted walks over all walks, the active ones included (they may still convert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Journey, JourneyEnrolment, JourneyEnrolmentStatus, JourneyStatus

SHOWN = (JourneyStatus.LIVE, JourneyStatus.PAUSED)


@dataclass
class JourneyFigures:
    """A journey and its walks by status."""

    journey: Journey
    walks: dict[str, int] = field(default_factory=dict)

    def _n(self, status: JourneyEnrolmentStatus) -> int:
        return self.walks.get(status.value, 0)

    @property
    def active(self) -> int:
        return self._n(JourneyEnrolmentStatus.ACTIVE)

    @property
    def converted(self) -> int:
        return self._n(JourneyEnrolmentStatus.CONVERTED)

    @property
    def completed(self) -> int:
        return self._n(JourneyEnrolmentStatus.COMPLETED)

    @property
    def exited(self) -> int:
        return self._n(JourneyEnrolmentStatus.EXITED)

    @property
    def entered(self) -> int:
        return sum(self.walks.values())

    @property
    def goal_rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None


def running_journeys(session: Session, limit: int = 100) -> list[JourneyFigures]:
    """Live journeys then paused ones, by name, with their walks counted (the reports index)."""
    journeys = list(session.scalars(
        select(Journey).where(Journey.status.in_(SHOWN)).order_by(Journey.status != JourneyStatus.LIVE, Journey.name)
        .limit(limit)))
    figures = {j.id: JourneyFigures(j) for j in journeys}
    if figures:
        rows: Any = session.execute(
            select(JourneyEnrolment.journey_id, JourneyEnrolment.status, func.count())
            .where(JourneyEnrolment.journey_id.in_(list(figures)), JourneyEnrolment.test.is_(False))
            .group_by(JourneyEnrolment.journey_id, JourneyEnrolment.status))
        for journey_id, status, n in rows:
            figures[journey_id].walks[str(status)] = int(n)
    return list(figures.values())
