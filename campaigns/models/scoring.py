"""Lead lifecycle records: the stage timeline (shared with the KPI dashboard), scoring rules, the score
ledger, hand-over triggers and their delivery log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc


class StageChange(Base):
    """One move of a contact between lifecycle stages, with when and why (the stage timeline)."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(20), default="")  # "" for the first record of a contact
    to_stage: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(50))  # score_threshold, rule, sales, api, import, ...
    detail: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


Index("ix_stage_changes_contact_time", StageChange.contact_id, StageChange.changed_at)
Index("ix_stage_changes_stage_time", StageChange.to_stage, StageChange.changed_at)
# The KPI dashboard's "first move to MQL or later per contact" reads only this index (index-only
# scan in contact order) instead of visiting 200,000 heap rows in random order.
Index("ix_stage_changes_contact_stage_time", StageChange.contact_id, StageChange.to_stage, StageChange.changed_at)


class RuleKind(enum.StrEnum):
    """What a scoring rule counts. Opens and clicks are human hits only (see campaigns.engagement.classify)."""

    HUMAN_OPEN = "human_open"
    HUMAN_CLICK = "human_click"
    LINK_CLICK = "link_click"  # a human click on a link whose URL matches `link_url`
    FORM_SUBMITTED = "form_submitted"
    PAGE_VIEWED = "page_viewed"
    WEBINAR_ATTENDED = "webinar_attended"
    CUSTOM_EVENT = "custom_event"  # any event name sent to the API
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce (the address was suppressed by the sender)
    INACTIVITY = "inactivity"  # N days without any activity
    PAGE_VISIT = "page_visit"  # a person's visit to a page of the website matching `link_url` (a page pattern)


class ScoringRule(Base):
    """Points for one kind of activity, with an optional event property filter and a daily cap."""

    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[RuleKind] = mapped_column(StrEnumType(RuleKind, 30))
    event_name: Mapped[str] = mapped_column(String(100), default="")  # custom_event (and optional for others)
    property_key: Mapped[str] = mapped_column(String(100), default="")
    property_value: Mapped[str] = mapped_column(String(500), default="")
    # link_click: exact URL, or a prefix ending in *; page_visit: the page pattern (audience.web_conditions)
    link_url: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int] = mapped_column(Integer)
    daily_cap: Mapped[int] = mapped_column(Integer, default=0)  # entries per contact per UTC day; 0 = no cap
    inactivity_days: Mapped[int] = mapped_column(Integer, default=0)  # inactivity rules
    sets_mql: Mapped[bool] = mapped_column(Boolean, default=False)  # firing makes the contact an MQL
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class ScoreEntry(Base):
    """One line of the score ledger: a rule gave a contact points for one event, hit or idle period.

    UNIQUE (rule, source, source_ref): re-running the scoring step never counts a source twice.

    Points a journey's add_score node gives have no rule (`rule_id` NULL, source "journey", source_ref
    "<walk>:<node>:<visit>", `cause` naming the journey and node, UNIQUE by uq_score_entries_unruled): the
    node is their reason, so no scoring rule shows on the marketer's rule list for it. The engine writes them
    with batch 0; the next scoring run claims them (its batch) and refreshes those contacts' scores."""

    __tablename__ = "score_entries"
    __table_args__ = (UniqueConstraint("rule_id", "source", "source_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_rules.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    # Why, for entries without a rule: the journey and node in words at the time ("“Onboarding” › Hot lead").
    cause: Mapped[str] = mapped_column(String(200), default="", server_default="")
    source: Mapped[str] = mapped_column(String(12))  # event, hit, bounce, idle
    source_ref: Mapped[str] = mapped_column(String(64))  # the event/hit/suppression id, or contact:since
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    batch: Mapped[int] = mapped_column(Integer, default=0)  # the scoring run that wrote it


Index("ix_score_entries_contact_time", ScoreEntry.contact_id, ScoreEntry.occurred_at)
Index("ix_score_entries_batch", ScoreEntry.batch)
Index("uq_score_entries_unruled", ScoreEntry.source, ScoreEntry.source_ref, unique=True,
      postgresql_where=ScoreEntry.rule_id.is_(None), sqlite_where=ScoreEntry.rule_id.is_(None))


class ScoringSettings(Base):
    """The account's thresholds and decay (one row, id 1) and the scoring step's cursors."""

    __tablename__ = "scoring_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    warm_at: Mapped[int] = mapped_column(Integer, default=20)
    hot_at: Mapped[int] = mapped_column(Integer, default=50)
    mql_when_hot: Mapped[bool] = mapped_column(Boolean, default=True)
    half_life_days: Mapped[int] = mapped_column(Integer, default=30)  # 0 = no decay
    # Cursors: the highest event / hit / suppression id already scored. Each run also re-reads the
    # previous run's range (the *_prev values): on PostgreSQL a row with a lower id can commit after a
    # higher one; the ledger's UNIQUE key makes the second look free of double counting.
    event_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    event_cursor_prev: Mapped[int] = mapped_column(BigInteger, default=0)
    hit_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    hit_cursor_prev: Mapped[int] = mapped_column(BigInteger, default=0)
    bounce_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    bounce_cursor_prev: Mapped[int] = mapped_column(BigInteger, default=0)
    visit_cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # web_visits (page_visit rules)
    visit_cursor_prev: Mapped[int] = mapped_column(BigInteger, default=0)
    batch: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_decay_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # full refresh (decay, idle rules)


class TriggerWhen(enum.StrEnum):
    STAGE = "stage"  # the contact entered `stage`
    SCORE = "score"  # the score rose to `score_at` or above


class TriggerAction(enum.StrEnum):
    ENROLL = "enroll"
    EXIT = "exit"
    EMAIL = "email"  # notify sales by email
    WEBHOOK = "webhook"  # HMAC-signed POST


class ScoreTrigger(Base):
    """When a contact reaches a stage or a score, do one thing: enrol, exit, email sales or call a webhook."""

    __tablename__ = "score_triggers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    when: Mapped[TriggerWhen] = mapped_column(StrEnumType(TriggerWhen))
    stage: Mapped[str] = mapped_column(String(20), default="")
    score_at: Mapped[int] = mapped_column(Integer, default=0)
    action: Mapped[TriggerAction] = mapped_column(StrEnumType(TriggerAction))
    # enrol / exit: a journey (migration 0022), or a draft sequence (it becomes a journey when activated, and the
    # trigger then reaches that journey); never both. A converted sequence's id is stored as its journey.
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id", ondelete="SET NULL"))
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequences.id", ondelete="SET NULL"))
    email_to: Mapped[str] = mapped_column(String(254), default="")
    webhook_url: Mapped[str] = mapped_column(Text, default="")
    webhook_secret: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt (a user may retry)


class WebhookDelivery(Base):
    """One hand-over notification (webhook POST or sales email) with its attempts: the delivery log.

    `delivery_id` is stable across retries so the receiver can drop duplicates."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40), unique=True)
    trigger_id: Mapped[int | None] = mapped_column(ForeignKey("score_triggers.id", ondelete="SET NULL"))
    # A journey's webhook node (no trigger): signed with that journey's own secret (journeys.webhook_secret).
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10), default="webhook")  # webhook | email
    url: Mapped[str] = mapped_column(Text)  # the webhook URL, or the sales address for email
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[DeliveryState] = mapped_column(StrEnumType(DeliveryState), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # one item per attempt
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


Index("ix_webhook_deliveries_state_retry", WebhookDelivery.state, WebhookDelivery.next_retry_at)
