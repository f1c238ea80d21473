"""JSON Schemas (2020-12) of the API's requests and responses: the ONE source for validation and the OpenAPI doc.

Request bodies are validated against these by `campaigns.api.core`; `campaigns.api.openapi` embeds the same
dicts under components/schemas. Bounds (lengths, id ranges) match the database columns so that a payload
that validates can always be stored.
"""

from __future__ import annotations

from typing import Any

from campaigns.journeys.sequences import EVENT_NAME_PATTERN, MAX_NAME_LENGTH
from campaigns.models import (
    BroadcastStatus,
    ContactStatus,
    EnrollmentStatus,
    SendStatus,
    SequenceStatus,
    Stage,
)
from campaigns.params import MAX_ID  # INTEGER primary keys on PostgreSQL (also every URL rule's int)

MAX_PAGE = 500
MAX_BATCH = 1000
MAX_DELAY_MINUTES = 5 * 366 * 24 * 60  # as campaigns.journeys.sequences allows

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int, min_length: int = 0, **extra: Any) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


# One-line text: no control characters (names and subjects end up in mail headers and CSV exports).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A name: one line with at least one visible character.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


# Multi-line text: tabs and newlines, but no other control characters (HTML parsers refuse them).
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


def multiline(max_length: int, min_length: int = 0) -> Schema:
    return text(max_length, min_length, pattern=MULTI_LINE)


def line(max_length: int, min_length: int = 0, **extra: Any) -> Schema:
    return text(max_length, min_length, pattern=ONE_LINE, **extra)


def name(max_length: int = 200) -> Schema:
    return text(max_length, 1, pattern=NAME_PATTERN)


def nullable(schema: Schema) -> Schema:
    """The schema or null (OpenAPI 3.1 style: a type list)."""
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
DATE_TIME: Schema = {"type": "string", "format": "date-time", "maxLength": 64}
# Event names as sequences store them ("whitepaper_downloaded", "Demo booked"): no control characters,
# no surrounding blanks, at most 100 characters.
EVENT_NAME: Schema = {
    "type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": EVENT_NAME_PATTERN,
}
EMAIL: Schema = {"type": "string", "format": "email", "minLength": 3, "maxLength": 254}
TIMEZONE: Schema = {
    "type": "string", "maxLength": 64, "format": "iana-timezone",
    "description": "An IANA time zone name such as Asia/Tokyo.",
}
FREE_OBJECT: Schema = {"type": "object", "maxProperties": 100}
EVENT_NAMES: Schema = {"type": "array", "items": EVENT_NAME, "maxItems": 50, "uniqueItems": True}

CONSENT: Schema = {
    "type": "object",
    "description": "Consent record (Japan's Act on Specified Electronic Mail): when, how, where, which wording.",
    "properties": {
        "at": nullable(DATE_TIME),
        "method": line(50),
        "source": line(200),
        "text": multiline(10_000),
    },
    "additionalProperties": False,
}

# The optional fields of a contact, shared by POST /contacts and the "contact" of an event.
CONTACT_FIELDS: Schema = {
    "first_name": line(200),
    "last_name": line(200),
    "company": line(200),
    "job_title": line(200),
    "source": line(100),
    "timezone": nullable(TIMEZONE),
    "attributes": {**FREE_OBJECT, "description": "Custom attributes, merged into the stored ones."},
    "consent": ref("Consent"),
}

STEP_IN: Schema = {
    "type": "object",
    "required": ["template_id"],
    "properties": {
        "id": {**ID, "description": "An existing step of this sequence to keep (PUT); omit for a new step."},
        "template_id": ID,
        "delay_minutes": {
            "type": "integer", "minimum": 0, "maximum": MAX_DELAY_MINUTES, "default": 0,
            "description": "Wait after the previous step (or after enrolment for the first step).",
        },
        "window_days": {
            "type": "string", "pattern": "^[1-7]{0,7}$", "default": "",
            "description": "ISO weekdays the step may go out on (1 = Monday), e.g. \"12345\"; empty = any day.",
        },
        "window_start_hour": {"type": ["integer", "null"], "minimum": 0, "maximum": 23},
        "window_end_hour": {"type": ["integer", "null"], "minimum": 1, "maximum": 24},
    },
    "additionalProperties": False,
}

SEQUENCE_FIELDS: Schema = {
    "name": name(),
    "description": multiline(5000),
    "trigger_events": {**EVENT_NAMES, "description": "Events that enrol a contact."},
    "exit_events": {**EVENT_NAMES, "description": "Events that end an enrolment."},
    "exit_stages": {
        "type": "array", "items": {"type": "string", "enum": [s.value for s in Stage]},
        "maxItems": len(Stage), "uniqueItems": True,
    },
    "allow_reentry": {"type": "boolean"},
    "goal_event": {"anyOf": [EVENT_NAME, {"type": "string", "maxLength": 0}]},
    "steps": {"type": "array", "items": ref("StepInput"), "maxItems": 100},
    "trigger_segment_id": {**ID, "type": ["integer", "null"],
                           "description": "Contacts entering this segment are enrolled (checked every minute)."},
    "exit_segment_id": {**ID, "type": ["integer", "null"], "description": "Segment that ends enrolments."},
    "exit_segment_when": {"type": "string", "enum": ["left", "in"],
                          "description": "Exit when the contact has left the exit segment, or is in it."},
}

TEMPLATE_SOURCE: Schema = {
    "subject": name(1000),
    "html_source": multiline(500_000, 1),
    "text_source": multiline(500_000),
    "preheader": line(1000),
    "from_name": line(200),
    "untracked_urls": {
        "type": "array", "items": line(2000, 1), "maxItems": 500,
        "description": "Links of the HTML that are not rewritten for click tracking.",
    },
}

EVENT_IN: Schema = {
    "type": "object",
    "required": ["email", "name"],
    "properties": {
        "email": EMAIL,
        "name": EVENT_NAME,
        "properties": FREE_OBJECT,
        "occurred_at": {**DATE_TIME, "description": "ISO 8601 with a UTC offset; defaults to now."},
        "contact": {
            "type": "object", "properties": CONTACT_FIELDS, "additionalProperties": False,
            "description": "Fields to upsert on the contact (created with source \"api\" when unknown).",
        },
        "event_id": {
            "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$",
            "description": "Your id for this event; a second event with the same id is not recorded again.",
        },
    },
    "additionalProperties": False,
}


def page_schema(item: str) -> Schema:
    return {
        "type": "object",
        "required": ["data", "next_after"],
        "properties": {
            "data": {"type": "array", "items": ref(item)},
            "next_after": {
                "type": ["integer", "null"],
                "description": "Pass as ?after= for the next page; null on the last page.",
            },
        },
    }


def object_schema(properties: Schema, required: list[str] | None = None) -> Schema:
    return {"type": "object", "required": required or list(properties), "properties": properties}


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}
NINT = {"type": ["integer", "null"]}
NDATE = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": "string", "format": "date-time"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}

SCHEMAS: dict[str, Schema] = {
    # ------------------------------------------------------------------ requests
    "Consent": CONSENT,
    "ContactInput": {
        "type": "object", "required": ["email"],
        "properties": {"email": EMAIL, **CONTACT_FIELDS},
        "additionalProperties": False,
    },
    "EventInput": EVENT_IN,
    "EventBatchInput": {
        "type": "object", "required": ["events"],
        "properties": {"events": {"type": "array", "items": ref("EventInput"), "minItems": 1, "maxItems": MAX_BATCH}},
        "additionalProperties": False,
    },
    "TemplateInput": {
        "type": "object", "required": ["name", "subject", "html_source"],
        "properties": {"name": name(), **TEMPLATE_SOURCE},
        "additionalProperties": False,
    },
    "TemplateVersionInput": {
        "type": "object", "required": ["subject", "html_source"],
        "description": "A complete new version; the name may change too.",
        "properties": {"name": name(), **TEMPLATE_SOURCE},
        "additionalProperties": False,
    },
    "StepInput": STEP_IN,
    "SequenceInput": {
        "type": "object", "required": ["name"], "properties": SEQUENCE_FIELDS, "additionalProperties": False,
    },
    "SequenceUpdate": {
        "type": "object", "minProperties": 1,
        "description": "Only the fields given change; `steps`, when given, is the whole new list.",
        "properties": SEQUENCE_FIELDS, "additionalProperties": False,
    },
    "BroadcastInput": {
        "type": "object", "required": ["name", "template_id"],
        "properties": {
            "name": name(),
            "template_id": ID,
            "segment_id": {**ID, "type": ["integer", "null"], "description": "null = all active contacts"},
            "scheduled_at": nullable(DATE_TIME),
        },
        "additionalProperties": False,
    },
    "BroadcastSchedule": {
        "type": "object",
        "properties": {"scheduled_at": nullable({**DATE_TIME, "description": "Defaults to now."})},
        "additionalProperties": False,
    },
    "ContactEraseInput": {
        "type": "object", "required": ["confirm"],
        "description": "Erasing cannot be undone: repeat the contact's email address, or the word ERASE.",
        "properties": {"confirm": line(254, 1)},
        "additionalProperties": False,
    },
    # ------------------------------------------------------------------ responses
    "Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable machine-readable code."},
            "message": STR,
            "details": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Field path -> problem."},
        },
    },
    "Contact": object_schema({
        "id": INT, "email": STR, "first_name": STR, "last_name": STR, "company": STR, "job_title": STR,
        "source": STR, "timezone": NSTR, "attributes": {"type": "object"},
        "status": {"type": "string", "enum": [s.value for s in ContactStatus]},
        "stage": {"type": "string", "enum": [s.value for s in Stage]},
        "score": INT,
        "consent": object_schema({"at": NDATE, "method": STR, "source": STR, "text": STR}),
        "created_at": DATE, "updated_at": DATE,
    }),
    "ContactUpserted": object_schema({"created": {"type": "boolean"}, "contact": ref("Contact")}),
    "ContactPage": page_schema("Contact"),
    "ContactErased": object_schema({
        "id": INT, "erased": {"type": "boolean"},
        "already_erased": {"type": "boolean", "description": "True when the contact had been erased before."},
        "counts": {**COUNTS, "description": "Rows changed per table (also in the audit log)."},
    }),
    "EventAccepted": object_schema({
        "id": INT, "contact_id": INT,
        "duplicate": {"type": "boolean", "description": "True when this is a retry of an event already recorded."},
    }),
    "EventBatchAccepted": object_schema({
        "events": {"type": "array", "items": object_schema({"index": INT, "id": INT, "contact_id": INT,
                                                   "duplicate": {"type": "boolean"}})},
        "accepted": INT,
        "duplicates": INT,
    }),
    "Link": object_schema({"position": INT, "url": STR, "tracked": {"type": "boolean"}}),
    "TemplateVersion": object_schema({
        "id": INT, "version": INT, "subject": STR, "preheader": STR, "from_name": STR,
        "html_source": STR, "text_source": STR, "created_at": DATE,
        "links": {"type": "array", "items": ref("Link")},
    }),
    "Template": object_schema({
        "id": INT, "name": STR, "created_at": DATE, "updated_at": DATE, "archived_at": NDATE,
        "current_version": {"anyOf": [ref("TemplateVersion"), {"type": "null"}]},
    }),
    "TemplateSummary": object_schema({"id": INT, "name": STR, "current_version_id": NINT, "version": NINT,
                             "subject": NSTR, "updated_at": DATE, "archived_at": NDATE}),
    "TemplatePage": page_schema("TemplateSummary"),
    "Step": object_schema({
        "id": INT, "position": INT, "template_id": INT, "delay_minutes": INT, "window_days": STR,
        "window_start_hour": NINT, "window_end_hour": NINT,
    }),
    "Sequence": object_schema({
        "id": INT, "name": STR, "description": STR,
        "status": {"type": "string", "enum": [s.value for s in SequenceStatus]},
        "trigger_events": {"type": "array", "items": STR},
        "exit_events": {"type": "array", "items": STR},
        "exit_stages": {"type": "array", "items": STR},
        "allow_reentry": {"type": "boolean"}, "goal_event": STR,
        "trigger_segment_id": NINT, "exit_segment_id": NINT, "exit_segment_when": STR,
        "steps": {"type": "array", "items": ref("Step")},
        "enrollments": {**COUNTS, "description": "Enrolments by status: " + ", ".join(EnrollmentStatus)},
        "created_at": DATE, "updated_at": DATE,
    }),
    "SequenceSummary": object_schema({
        "id": INT, "name": STR, "status": {"type": "string", "enum": [s.value for s in SequenceStatus]},
        "trigger_events": {"type": "array", "items": STR}, "updated_at": DATE,
    }),
    "SequencePage": page_schema("SequenceSummary"),
    "Broadcast": object_schema({
        "id": INT, "name": STR, "template_id": INT, "segment_id": NINT,
        "status": {"type": "string", "enum": [s.value for s in BroadcastStatus]},
        "scheduled_at": NDATE, "started_at": NDATE, "finished_at": NDATE, "created_at": DATE,
        "sends": {**COUNTS, "description": "Sends by status: " + ", ".join(SendStatus)},
    }),
    "BroadcastPage": page_schema("Broadcast"),
    "Send": object_schema({
        "id": INT, "contact_id": INT, "email": STR, "enrollment_id": NINT, "step_id": NINT, "sequence_id": NINT,
        "broadcast_id": NINT, "template_version_id": INT, "variant": STR,
        "status": {"type": "string", "enum": [s.value for s in SendStatus]},
        "attempts": INT, "possible_duplicate": {"type": "boolean"}, "error": STR,
        "created_at": DATE, "enqueued_at": NDATE, "sent_at": NDATE,
    }),
    "SendPage": page_schema("Send"),
}

# Query parameters, validated by the same code as bodies (values arrive as strings and are coerced).
PAGING: dict[str, Schema] = {
    "after": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "Return items with id > after."},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
}
