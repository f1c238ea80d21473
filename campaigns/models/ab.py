"""A/B tests on a broadcast, a sequence step or a journey's send node: the test, its variants, and who got
which variant.

Which variant a send carried is on the send itself (`Send.variant`, the variant's key "A".."E"), so
reports and the decision count straight from the ledger and the tracking hits.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc

VARIANT_KEYS = ("A", "B", "C", "D", "E")


class ABKind(enum.StrEnum):
    """What differs between the variants."""

    SUBJECT = "subject"
    PREHEADER = "preheader"
    FROM_NAME = "from_name"
    CONTENT = "content"  # each variant is a template
    SEND_TIME = "send_time"  # each variant is a local send time in the contact's time zone


class ABMetric(enum.StrEnum):
    """How the winner is chosen; only human engagement counts."""

    OPEN = "open"  # human unique open rate (a human click implies an open)
    CLICK = "click"  # human unique click rate
    CLICK_TO_OPEN = "click_to_open"  # human clickers among human openers
    GOAL = "goal"  # a goal event (e.g. demo_booked) within goal_days of the send


class ABMode(enum.StrEnum):
    AUTO = "auto"  # the winner goes to the rest as soon as the test is decided
    MANUAL = "manual"  # the decision is shown; the marketer picks what goes


class ABStatus(enum.StrEnum):
    DRAFT = "draft"  # set up, the broadcast has not started (or the step test not started)
    TESTING = "testing"  # the test portion is going out / its windows are open
    AWAITING_DECISION = "awaiting_decision"  # manual mode: windows closed, waiting for the marketer
    DECIDED = "decided"  # a variant was chosen; for broadcasts the rest is being sent
    CANCELLED = "cancelled"
    FAILED = "failed"  # the scheduler could not run its decision (decision["failure_reason"] says why); no more sends


class ABTest(Base):
    """One A/B test of a broadcast (broadcast_id), a sequence step (step_id) or a journey's send node
    (journey_id + node_key; campaigns.experiments.journeys). A step test moved to its converted journey's
    node (migration 0021) keeps its step_id for history; journey_id then decides where it counts."""

    __tablename__ = "ab_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), index=True)
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"), index=True)
    node_key: Mapped[str] = mapped_column(String(40), default="")  # the journey's send node
    kind: Mapped[ABKind] = mapped_column(StrEnumType(ABKind))
    metric: Mapped[ABMetric] = mapped_column(StrEnumType(ABMetric), default=ABMetric.OPEN)
    goal_event: Mapped[str] = mapped_column(String(100), default="")
    goal_days: Mapped[int] = mapped_column(Integer, default=7)
    test_portion: Mapped[float] = mapped_column(Float, default=0.2)  # broadcasts; step tests take everyone
    window_hours: Mapped[int] = mapped_column(Integer, default=24)  # engagement counted per send, this long
    test_days: Mapped[int] = mapped_column(Integer, default=14)  # step tests: how long new sends are split
    fallback: Mapped[str] = mapped_column(String(40), default="keep_control")  # campaigns.experiments.stats.Fallback
    mode: Mapped[ABMode] = mapped_column(StrEnumType(ABMode), default=ABMode.AUTO)
    status: Mapped[ABStatus] = mapped_column(StrEnumType(ABStatus, 24), default=ABStatus.DRAFT)
    # Planning inputs (the sample-size advice) and the planned size per variant.
    baseline_rate: Mapped[float] = mapped_column(Float, default=0.2)
    min_lift: Mapped[float] = mapped_column(Float, default=0.2)
    alpha: Mapped[float] = mapped_column(Float, default=0.05)
    power: Mapped[float] = mapped_column(Float, default=0.8)
    planned_per_variant: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    split_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # no more test sends after this
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last variant's window closes
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winner_index: Mapped[int | None] = mapped_column(Integer)  # the variant sent to the rest / kept
    decided_by: Mapped[str] = mapped_column(String(200), default="")  # "auto" or the marketer's email
    # The decision record: campaigns.experiments.stats.Decision.to_dict() at the deadline, plus why (reason, code);
    # "failure_reason" when the scheduler stopped the test (campaigns.experiments.decision.fail_test).
    decision: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rest_planned: Mapped[int] = mapped_column(Integer, default=0)  # broadcasts: sends to the remaining audience

    variants: Mapped[list[ABVariant]] = relationship(
        back_populates="test", order_by="ABVariant.position", cascade="all, delete-orphan"
    )


class ABVariant(Base):
    """One variant; position 0 is the control (the broadcast's or step's own template)."""

    __tablename__ = "ab_variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(2))  # "A".."E", stored on each send as Send.variant
    label: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    preheader: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))  # content tests; set at start
    percent: Mapped[int] = mapped_column(Integer, default=0)  # journey tests: its share of new walks (0: even)
    send_local: Mapped[str] = mapped_column(String(16), default="")  # "YYYY-MM-DDTHH:MM" in the contact's zone
    # Resolved when the test starts: the version every send of this variant carries.
    template_version_id: Mapped[int | None] = mapped_column(Integer)

    test: Mapped[ABTest] = relationship(back_populates="variants")


class ABAssignment(Base):
    """Broadcast tests: the recorded random assignment of a test-portion contact, and when its send is due."""

    __tablename__ = "ab_assignments"

    test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    planned: Mapped[bool] = mapped_column(default=False)  # its Send row exists


Index("ix_ab_assignments_due", ABAssignment.test_id, ABAssignment.planned, ABAssignment.due_at)
