"""All models, importable from one place; `create_all` / `drop_all` build the schema from them (tests, benchmarks)."""

from __future__ import annotations

from campaigns.db import Base, Database
from campaigns.models.ab import ABAssignment, ABKind, ABMetric, ABMode, ABStatus, ABTest, ABVariant
from campaigns.models.api import IdempotencyKey
from campaigns.models.audit import AuditEntry
from campaigns.models.contacts import (
    Contact,
    ContactStatus,
    ImportJob,
    ImportStatus,
    Segment,
    Stage,
    Suppression,
)
from campaigns.models.events import Event
from campaigns.models.forms import Form, FormStatus, FormSubmission, SubmissionStatus
from campaigns.models.journeys import (
    Journey,
    JourneyCursor,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneySegmentMember,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
)
from campaigns.models.lists import ContactList, ContactListMember, SegmentExitWhen, SegmentTriggerMember
from campaigns.models.scoring import (
    DeliveryState,
    RuleKind,
    ScoreEntry,
    ScoreTrigger,
    ScoringRule,
    ScoringSettings,
    StageChange,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
)
from campaigns.models.sends import OutboxMessage, Send, SendStatus
from campaigns.models.sequences import (
    Broadcast,
    BroadcastStatus,
    Enrollment,
    EnrollmentStatus,
    Sequence,
    SequenceStatus,
    Step,
)
from campaigns.models.templates import Link, MailAsset, Template, TemplateVersion
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind, RollupScope
from campaigns.models.users import Account, ApiKey, User
from campaigns.models.web import WebTrackingSettings, WebVisit, WebVisitor

__all__ = [
    "create_all", "drop_all",
    "ABAssignment", "ABKind", "ABMetric", "ABMode", "ABStatus", "ABTest", "ABVariant",
    "Account", "ApiKey", "AuditEntry", "EngagementRollup", "Hit", "HitClass", "HitKind", "RollupScope", "Broadcast", "BroadcastStatus", "Contact", "ContactStatus", "Enrollment",
    "EnrollmentStatus", "Event", "Form", "FormStatus", "FormSubmission", "IdempotencyKey", "ImportJob", "ImportStatus", "Link", "MailAsset", "OutboxMessage", "Segment", "Send",
    "SendStatus", "Sequence", "StageChange", "DeliveryState", "RuleKind", "ScoreEntry", "ScoreTrigger", "ScoringRule", "ScoringSettings",
    "TriggerAction", "TriggerWhen", "WebhookDelivery", "SequenceStatus", "Stage", "Step", "SubmissionStatus", "Suppression", "Template",
    "TemplateVersion", "User", "WebTrackingSettings", "WebVisit", "WebVisitor",
    "Journey", "JourneyCursor", "JourneyEnrolment", "JourneyEnrolmentStatus", "JourneyStatus", "JourneyStep",
    "JourneyVersion", "JourneySegmentMember",
    "ContactList", "ContactListMember", "SegmentExitWhen", "SegmentTriggerMember",
]


def create_all(db: Database) -> None:
    """Create every table from the models (tests, benchmarks); production uses Alembic migrations."""
    Base.metadata.create_all(db.engine)


def drop_all(db: Database) -> None:
    """Drop every table of the models (benchmarks that rebuild their own database)."""
    Base.metadata.drop_all(db.engine)
