"""Segments as a sequence's enrolment trigger and exit condition. A sequence runs as a linear journey once
activated: its trigger segment is the journey's segment entry, its exit segment the journey's exit, and the
journey engine evaluates them in the scheduler tick at most once a minute (automation.happenings). Enrolling
a segment from a sequence's page enrols into its journey; a draft is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns import scheduler
from campaigns.audience import segment_triggers
from campaigns.automation import happenings
from campaigns.automation.linear import activate_sequence, pause_sequence
from campaigns.journeys.sequences import create_sequence, update_sequence
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.models import (
    Contact,
    ContactStatus,
    Event,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Segment,
    Send,
    SendStatus,
    Sequence,
)
from campaigns.suppression import suppress
from tests.factories import make_template

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MANAGERS = {"all": [{"field": "job_title", "op": "contains", "value": "部長"}]}


def _setup(services: Any, *, reentry: bool = False, exit_rules: dict[str, Any] | None = None,
           exit_when: str = "left", trigger: bool = True, active: bool = True, tag: str = "") -> dict[str, int]:
    with services.db.begin() as s:
        template = make_template(s)
        seg = Segment(name="Managers", rules=MANAGERS)
        s.add(seg)
        s.flush()
        exit_id = None
        if exit_rules is not None:
            exit_seg = Segment(name="Exit", rules=exit_rules)
            s.add(exit_seg)
            s.flush()
            exit_id = exit_seg.id
        sequence = create_sequence(
            s, "Managers' nurture", steps=[{"template_id": template.id, "delay_minutes": 60}],
            allow_reentry=reentry, trigger_segment_id=seg.id if trigger else None, exit_segment_id=exit_id,
            exit_segment_when=exit_when,
        )
        if active:
            activate_sequence(s, sequence)  # a live linear journey
        people = {
            "manager": Contact(email=f"bucho{tag}@example.jp", job_title="営業部長"),
            "suppressed": Contact(email=f"sup{tag}@example.jp", job_title="部長"),
            "unsubscribed": Contact(email=f"gone{tag}@example.jp", job_title="部長", status=ContactStatus.UNSUBSCRIBED),
            "staff": Contact(email=f"staff{tag}@example.jp", job_title="Engineer"),
        }
        s.add_all(people.values())
        s.flush()
        suppress(s, f"sup{tag}@example.jp", "manual")
        return {"sequence": sequence.id, "segment": seg.id, **{k: c.id for k, c in people.items()}}


def _enrolments(services: Any, sequence_id: int) -> list[tuple[int, int, str]]:
    """(contact, cycle, status) of the walks of the journey the sequence runs as."""
    with services.db.begin() as s:
        journey = journey_of_sequence(s, sequence_id)
        if journey is None:
            return []
        return [(c, cyc, str(st)) for c, cyc, st in s.execute(
            select(JourneyEnrolment.contact_id, JourneyEnrolment.cycle, JourneyEnrolment.status)
            .where(JourneyEnrolment.journey_id == journey.id)
            .order_by(JourneyEnrolment.contact_id, JourneyEnrolment.cycle)
        )]


def _evaluate(services: Any, now: datetime) -> dict[str, int]:
    """One scheduler tick with the segments due (the once-a-minute guard cleared)."""
    services.redis.delete(happenings.PERIODIC_KEY)
    return scheduler.tick(services, now=now, lock=False)


def _set(services: Any, contact_id: int, **fields: Any) -> None:
    with services.db.begin() as s:
        contact = s.get(Contact, contact_id)
        for k, v in fields.items():
            setattr(contact, k, v)


def test_contacts_entering_the_segment_are_enrolled_once_and_suppressed_never(services: Any) -> None:
    ids = _setup(services)
    _evaluate(services, NOW)
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "active")]
    for minute in range(1, 4):  # repeated evaluations add nothing
        _evaluate(services, NOW + timedelta(minutes=minute))
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "active")]

    _set(services, ids["staff"], job_title="技術部長")  # enters the segment
    _evaluate(services, NOW + timedelta(minutes=5))
    got = _enrolments(services, ids["sequence"])
    assert (ids["staff"], 1, "active") in got and len(got) == 2
    assert not any(c in (ids["suppressed"], ids["unsubscribed"]) for c, _, _ in got)
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == ids["staff"]))
        assert walk.due_at == NOW + timedelta(minutes=5 + 60)  # at the first step's delay


def test_without_reentry_leaving_and_coming_back_does_not_enrol_again(services: Any) -> None:
    ids = _setup(services)
    _evaluate(services, NOW)
    _set(services, ids["manager"], job_title="Advisor")
    _evaluate(services, NOW + timedelta(minutes=1))
    _set(services, ids["manager"], job_title="部長")
    _evaluate(services, NOW + timedelta(minutes=2))
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "active")]


def test_with_reentry_a_finished_contact_is_enrolled_again_only_after_re_entering(services: Any) -> None:
    ids = _setup(services, reentry=True)
    _evaluate(services, NOW)
    with services.db.begin() as s:
        s.scalar(select(JourneyEnrolment)).status = JourneyEnrolmentStatus.COMPLETED
    # still in the segment, but not newly: no second cycle
    _evaluate(services, NOW + timedelta(minutes=1))
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "completed")]
    _set(services, ids["manager"], job_title="Advisor")
    _evaluate(services, NOW + timedelta(minutes=2))
    _set(services, ids["manager"], job_title="部長")
    _evaluate(services, NOW + timedelta(minutes=3))
    _evaluate(services, NOW + timedelta(minutes=4))
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "completed"), (ids["manager"], 2, "active")]


def test_paused_sequences_take_nobody(services: Any) -> None:
    ids = _setup(services)
    with services.db.begin() as s:
        pause_sequence(s, s.get(Sequence, ids["sequence"]))
    _evaluate(services, NOW)
    assert _enrolments(services, ids["sequence"]) == []
    draft = _setup(services, active=False, tag="2")  # a draft: no journey, nobody
    _evaluate(services, NOW + timedelta(minutes=1))
    assert _enrolments(services, draft["sequence"]) == []


def test_exit_when_the_contact_leaves_the_segment_cancels_queued_sends(services: Any) -> None:
    ids = _setup(services, exit_rules=MANAGERS, exit_when="left")
    _evaluate(services, NOW)
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment))
        version_id = make_template(s, "Other").current_version_id
        s.add(Send(contact_id=ids["manager"], journey_enrolment_id=walk.id, node_key="x", visit=1,
                   template_version_id=version_id, status=SendStatus.QUEUED))
    _evaluate(services, NOW + timedelta(minutes=1))  # still in: nothing happens
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "active")]
    _set(services, ids["manager"], job_title="Advisor")
    _evaluate(services, NOW + timedelta(minutes=2))
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment))
        assert walk.status == JourneyEnrolmentStatus.EXITED and "Exit" in walk.exit_reason
        assert s.scalar(select(Send.status)) == SendStatus.CANCELLED


def test_exit_when_the_contact_is_in_the_exit_segment(services: Any) -> None:
    booked = {"all": [{"event": "demo_booked", "within_days": 30}]}
    ids = _setup(services, exit_rules=booked, exit_when="in")
    _evaluate(services, NOW)
    with services.db.begin() as s:
        s.add(Event(contact_id=ids["manager"], name="demo_booked", occurred_at=NOW))
    _evaluate(services, NOW + timedelta(minutes=1))
    assert _enrolments(services, ids["sequence"]) == [(ids["manager"], 1, "exited")]


def test_the_scheduler_tick_evaluates_segments_at_most_once_a_minute(services: Any) -> None:
    ids = _setup(services)
    scheduler.tick(services, now=NOW, lock=False)
    assert len(_enrolments(services, ids["sequence"])) == 1
    _set(services, ids["staff"], job_title="部長")
    scheduler.tick(services, now=NOW + timedelta(seconds=5), lock=False)
    assert len(_enrolments(services, ids["sequence"])) == 1
    services.redis.delete(happenings.PERIODIC_KEY)  # the minute has passed
    scheduler.tick(services, now=NOW + timedelta(seconds=65), lock=False)
    assert len(_enrolments(services, ids["sequence"])) == 2


def test_sequence_segment_fields_are_validated(services: Any) -> None:
    ids = _setup(services, trigger=False, active=False)
    for fields, message in [({"trigger_segment_id": 999}, "segment 999 does not exist"),
                            ({"exit_segment_when": "sometimes"}, "'left' or 'in'"),
                            ({"exit_segment_id": "x"}, "whole number")]:
        with pytest.raises(ValueError, match=message), services.db.begin() as s:  # rolled back
            update_sequence(s, s.get(Sequence, ids["sequence"]), **fields)
    with services.db.begin() as s:
        update_sequence(s, s.get(Sequence, ids["sequence"]), exit_segment_id=ids["segment"], exit_segment_when="in")
    with services.db.begin() as s:
        sequence = s.get(Sequence, ids["sequence"])
        assert (sequence.trigger_segment_id, sequence.exit_segment_id) == (None, ids["segment"])
        assert sequence.exit_segment_when == "in"


def test_segment_enrolment_of_a_sequence_enrols_into_its_journey_and_a_draft_is_refused(
        app: Any, ui: Any, services: Any) -> None:
    ids = _setup(services, trigger=False)
    _set(services, ids["staff"], job_title="部長")
    with services.db.begin() as s:
        sequence = s.get(Sequence, ids["sequence"])
        assert segment_triggers.enroll_matching(s, sequence, MANAGERS) == 2
        assert segment_triggers.enroll_matching(s, sequence, MANAGERS) == 0  # already walking
    assert {c for c, _, _ in _enrolments(services, ids["sequence"])} == {ids["manager"], ids["staff"]}
    draft = _setup(services, trigger=False, active=False, tag="2")
    page = f"/sequences/{draft['sequence']}"
    resp = ui.post(f"{page}/enroll", {"segment": str(draft["segment"])}, page=page, follow_redirects=True)
    assert "activate it first" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert segment_triggers.enroll_matching(s, s.get(Sequence, draft["sequence"]), MANAGERS) == 0
    assert _enrolments(services, draft["sequence"]) == []


def test_sequence_builder_sets_the_segment_trigger_and_exit(ui: Any, services: Any) -> None:
    from tests.ui.test_ui_sequences import _base, _post, _step

    ids = _setup(services, trigger=False, active=False)
    with services.db.begin() as s:
        template_id = s.get(Sequence, ids["sequence"]).steps[0].template_id
    page = ui.get("/sequences/new").get_data(as_text=True)
    assert 'data-testid="sequence-segments"' in page and "Managers" in page
    pairs = _base(name="By segment") + _step(0, template_id) + [
        ("trigger_segment_id", str(ids["segment"])), ("exit_segment_id", str(ids["segment"])),
        ("exit_segment_when", "in")]
    assert _post(ui, "/sequences/new", pairs).status_code == 302
    with services.db.begin() as s:
        made = s.scalar(select(Sequence).where(Sequence.name == "By segment"))
        assert (made.trigger_segment_id, made.exit_segment_id, made.exit_segment_when) == (
            ids["segment"], ids["segment"], "in")
        made_id = made.id
    edit = ui.get(f"/sequences/{made_id}/edit").get_data(as_text=True)
    assert f'<option value="{ids["segment"]}" selected>' in edit
    bad = _base(name="Bad") + _step(0, template_id) + [("trigger_segment_id", "99999")]
    resp = _post(ui, "/sequences/new", bad)
    assert resp.status_code == 400 and "segment 99999 does not exist" in resp.get_data(as_text=True)


def test_a_trigger_segment_cannot_be_deleted_from_the_ui(ui: Any, services: Any) -> None:
    ids = _setup(services)
    page = f"/contacts/segments/{ids['segment']}"
    resp = ui.post(f"{page}/delete", {}, page=page, follow_redirects=True)
    # refused with what uses it, and Archive offered instead (campaigns.audience.archive)
    assert resp.status_code == 409 and "cannot be deleted because it is in use" in resp.get_data(as_text=True)
    assert 'data-testid="archive-instead"' in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.get(Segment, ids["segment"]) is not None
