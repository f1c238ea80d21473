"""All models, importable from one place."""

from campaigns.models.api import IdempotencyKey
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
from campaigns.models.scoring import StageChange
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
from campaigns.models.templates import Link, Template, TemplateVersion
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind, RollupScope
from campaigns.models.users import Account, ApiKey, User

__all__ = [
    "Account", "ApiKey", "EngagementRollup", "Hit", "HitClass", "HitKind", "RollupScope", "Broadcast", "BroadcastStatus", "Contact", "ContactStatus", "Enrollment",
    "EnrollmentStatus", "Event", "IdempotencyKey", "ImportJob", "ImportStatus", "Link", "OutboxMessage", "Segment", "Send",
    "SendStatus", "Sequence", "StageChange", "SequenceStatus", "Stage", "Step", "Suppression", "Template",
    "TemplateVersion", "User",
]
