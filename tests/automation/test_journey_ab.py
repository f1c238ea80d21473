"""A/B tests on journey send nodes, end to end: the split by the configured percentages over 1,000 walks,
one mail per walk through the real sender carrying its variant, human opens through the real pixel (a
privacy proxy's machine open never counts), the decision equal to the A/B statistics' own for the same
counts, the winner for later walks; the API's 422 on a bad set-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from campaigns.automation import service
from campaigns.db import now_utc
from campaigns.experiments import decision as ab_decision
from campaigns.experiments import stats
from campaigns.experiments.counting import count_variants, metric_counts
from campaigns.experiments.journeys import node_split
from campaigns.experiments.results import node_results
from campaigns.models import (
    ABStatus,
    ABTest,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    Template,
)
from tests.automation.engine_helpers import deliver, enrol, open_mail, publish, template, tick
from tests.factories import committed, linear_graph, make_contact, make_template
from tests.tracking_helpers import IP_APPLE, IP_HOME_JP, UA_APPLE_MAIL, UA_CHROME

API = "/api/v1"


def _ab_graph(control: int, challenger: int, *, percent_a: int = 50, per_variant: int = 0,
              window_hours: int = 1, metric: str = "open") -> dict[str, Any]:
    return {"start": "mail", "nodes": [
        {"id": "mail", "type": "send", "template_id": control, "ab": {
            "variants": [{"template_id": control, "percent": percent_a},
                         {"template_id": challenger, "percent": 100 - percent_a}],
            "metric": metric, "days": 14, "per_variant": per_variant, "window_hours": window_hours,
            "winner": "auto"}},
        {"id": "done", "type": "end"}],
        "edges": [{"from": "mail", "exit": "next", "to": "done"}]}


def _contacts(services: Any, prefix: str, count: int) -> list[int]:
    with services.db.begin() as s:
        return [make_contact(s, f"{prefix}{i}@example.jp", first_name=f"Lead{i}").id for i in range(count)]


def _test_of(services: Any, journey_id: int) -> ABTest:
    with services.db.factory() as s:
        test = s.scalar(select(ABTest).where(ABTest.journey_id == journey_id))
        assert test is not None
        _ = list(test.variants)
        s.expunge_all()
        return test


def test_a_thousand_walks_split_by_the_configured_percentages_one_send_each(app, services):
    with services.db.begin() as s:
        control, challenger = template(s, "Control"), template(s, "Challenger")
        journey = publish(s, _ab_graph(control, challenger, percent_a=70))
        jid = journey.id
        versions = {t.id: t.current_version_id for t in s.scalars(select(Template))}
    ids = _contacts(services, "walk", 1000)
    assert enrol(services, jid, ids) == 1000
    tick(services)
    tick(services)  # a second pass finds nothing more to send: the walks have left the node
    test = _test_of(services, jid)
    assert test.status is ABStatus.TESTING and [v.percent for v in test.variants] == [70, 30]
    with services.db.factory() as s:
        rows = s.execute(select(Send.journey_enrolment_id, Send.variant, Send.template_version_id)
                         .where(Send.node_key == "mail")).all()
        split = node_split(s, jid, "mail")
    assert len(rows) == 1000 and len({r[0] for r in rows}) == 1000  # exactly one send per walk
    by_variant = {key: sum(1 for r in rows if r[1] == key) for key in ("A", "B")}
    # 70/30 of 1,000 has a standard deviation of ~14.5 sends: 60 is four of them (the hash is fixed: no flake)
    assert abs(by_variant["A"] - 700) < 60 and by_variant["A"] + by_variant["B"] == 1000, by_variant
    wanted = {"A": versions[control], "B": versions[challenger]}
    assert all(r[2] == wanted[r[1]] for r in rows)  # each send carries its variant's template version
    # recorded and deterministic: the engine's choice is the one the split gives again for the same walk (a
    # replayed visit after a crash picks the same variant; the ledger's UNIQUE keeps it to one mail)
    assert split is not None and all(split.choose(walk_id) == (key, wanted[key]) for walk_id, key, _ in rows)


def test_a_replayed_visit_keeps_its_variant_even_after_the_shares_changed(app, services):
    with services.db.begin() as s:
        control, challenger = template(s, "Control"), template(s, "Challenger")
        journey = publish(s, _ab_graph(control, challenger, percent_a=50))
        jid = journey.id
    ids = _contacts(services, "replay", 40)
    enrol(services, jid, ids)
    tick(services)
    with services.db.factory() as s:
        first = dict(s.execute(select(Send.journey_enrolment_id, Send.variant).where(Send.node_key == "mail")).all())
    assert len(first) == 40 and set(first.values()) == {"A", "B"}
    # the marketer moves the shares to 1/99 (same templates: the same test carries on) ...
    with services.db.begin() as s:
        journey = s.get(Journey, jid)
        journey.draft_graph = _ab_graph(control, challenger, percent_a=1)
        service.publish(s, journey)
    # ... and every walk replays its visit of the mail node (a pass whose move was lost after the ledger insert)
    with services.db.begin() as s:
        s.execute(update(JourneyEnrolment).where(JourneyEnrolment.journey_id == jid).values(
            status=JourneyEnrolmentStatus.ACTIVE, node_key="mail", visit=1, due_at=now_utc() - timedelta(seconds=1),
            waiting=False, finished_at=None))
    counts = tick(services)
    assert counts.get("planned", 0) == 0 and counts.get("send_conflicts") == 40
    with services.db.factory() as s:
        again = dict(s.execute(select(Send.journey_enrolment_id, Send.variant).where(Send.node_key == "mail")).all())
        assert s.scalar(select(func.count()).select_from(ABTest)) == 1
    assert again == first  # one mail per walk and visit, and nobody switched variant


def test_the_decision_uses_human_opens_matches_the_statistics_and_the_winner_goes_to_later_walks(
        app, services, client, smtp_server):
    with services.db.begin() as s:
        control, challenger = template(s, "Control"), template(s, "Challenger")
        jid = publish(s, _ab_graph(control, challenger, per_variant=3, window_hours=3)).id
        challenger_version = s.get(Template, challenger).current_version_id
    ids = _contacts(services, "lead", 24)
    enrol(services, jid, ids)
    tick(services)
    deliver(app)
    mails = smtp_server.wait_for(24)
    assert len(mails) == 24 and len({m.message["To"] for m in mails}) == 24  # one mail each
    with services.db.factory() as s:
        variant_of = dict(s.execute(select(Send.contact_id, Send.variant).where(Send.node_key == "mail")).all())
        address = dict(s.execute(select(Send.contact_id, Send.id)).all())
    assert set(variant_of.values()) == {"A", "B"}
    for mail in mails:
        html = mail.message.get_body(("html",)).get_content()
        subject = str(mail.message["Subject"])
        contact = next(cid for cid in variant_of if f"lead{ids.index(cid)}@" in mail.message["To"])
        assert subject.startswith("Control" if variant_of[contact] == "A" else "Challenger")
        if variant_of[contact] == "B":
            open_mail(client, app, html, UA_CHROME, IP_HOME_JP)  # a person reads the challenger
        else:
            open_mail(client, app, html, UA_APPLE_MAIL, IP_APPLE)  # Apple's privacy proxy: a machine open
    assert address  # every send was written

    # the deliveries are dated two hours back (engine_helpers.deliver): the 3-hour windows close in an hour
    later = now_utc() + timedelta(hours=1, minutes=5)
    ab_decision.tick(services, later)
    test = _test_of(services, jid)
    assert test.status is ABStatus.DECIDED, test.decision
    counts = test.decision["counts"]
    n_a = sum(1 for v in variant_of.values() if v == "A")
    n_b = 24 - n_a
    assert (counts["A"]["opened"], counts["A"]["delivered"]) == (0, n_a)  # machine opens never count
    assert (counts["B"]["opened"], counts["B"]["delivered"]) == (n_b, n_b)
    # the decision is the statistics module's own for the same counts and plan
    plan = stats.TestPlan(variants=2, sends_per_variant=3, alpha=test.alpha, power=test.power,
                          baseline_rate=test.baseline_rate, min_detectable_lift=test.min_lift, control_index=0,
                          fallback=stats.Fallback(test.fallback))
    expected = stats.decide([ab_decision.variant_name(v) for v in test.variants], [(0, n_a), (n_b, n_b)], plan,
                            stats.NowState(now=later, deadline=later))
    assert test.decision["send_index"] == expected.send_index == 1
    assert test.decision["reason_code"] == expected.reason_code
    assert [v["probability_best"] for v in test.decision["variants"]] == \
        [v.probability_best for v in expected.variants]
    with services.db.factory() as s:
        t = s.get(ABTest, test.id)
        assert t is not None and metric_counts(t, count_variants(s, t)) == [(0, n_a), (n_b, n_b)]
        shown = node_results(s, jid, later)["mail"]
    assert shown["winner"] == 1 and [v["sends"] for v in shown["variants"]] == [n_a, n_b]

    # later walks get the winner: one mail each, the challenger's version, no variant key (not in the test)
    newcomers = _contacts(services, "late", 3)
    enrol(services, jid, newcomers)
    tick(services)
    deliver(app)
    late_mails = smtp_server.wait_for(27)[24:]
    assert len(late_mails) == 3 and all(str(m.message["Subject"]).startswith("Challenger") for m in late_mails)
    with services.db.factory() as s:
        rows = s.execute(select(Send.variant, Send.template_version_id)
                         .where(Send.contact_id.in_(newcomers))).all()
    assert rows and all(r == ("", challenger_version) for r in rows)


def test_manual_mode_waits_for_the_marketer_and_later_walks_get_the_pick(app, services):
    with services.db.begin() as s:
        control, challenger = template(s, "Control"), template(s, "Challenger")
        graph = _ab_graph(control, challenger, per_variant=2)
        graph["nodes"][0]["ab"]["winner"] = "manual"
        jid = publish(s, graph).id
        versions = {t.id: t.current_version_id for t in s.scalars(select(Template))}
    enrol(services, jid, _contacts(services, "first", 12))
    tick(services)
    deliver(app)
    ab_decision.tick(services, now_utc() + timedelta(hours=2))
    test = _test_of(services, jid)
    assert test.status is ABStatus.AWAITING_DECISION and test.decision["reason_code"]
    # while the decision waits, new walks get variant A without a variant key (not counted in the test)
    waiting = _contacts(services, "waiting", 2)
    enrol(services, jid, waiting)
    tick(services)
    with services.db.factory() as s:
        assert set(s.execute(select(Send.variant, Send.template_version_id)
                             .where(Send.contact_id.in_(waiting))).all()) == {("", versions[control])}
        ab_decision.pick_winner(s, s.get(ABTest, test.id), 1, decided_by="marketer@acme.test")
        s.commit()
    later_ids = _contacts(services, "later", 2)
    enrol(services, jid, later_ids)
    tick(services)
    with services.db.factory() as s:
        assert set(s.execute(select(Send.variant, Send.template_version_id)
                             .where(Send.contact_id.in_(later_ids))).all()) == {("", versions[challenger])}
        assert s.get(ABTest, test.id).decided_by == "marketer@acme.test"


def _call(client: Any, key: str, method: str, path: str, body: Any = None) -> Any:
    return client.open(API + path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})


def test_bad_ab_set_ups_get_422_naming_the_node(client, api_key, services):
    one, two = committed(services, make_template, "One"), committed(services, make_template, "Two")
    graph = linear_graph([one])
    jid = _call(client, api_key, "POST", "/journeys", {"name": "AB", "graph": graph}).get_json()["id"]
    node = graph["nodes"][0]

    def with_ab(ab: dict[str, Any]) -> dict[str, Any]:
        return {**graph, "nodes": [{**node, "ab": ab}, *graph["nodes"][1:]]}

    cases = [
        ({"variants": [{"template_id": one, "percent": 50}, {"template_id": 999999, "percent": 50}]},
         "template 999999 does not exist"),
        ({"variants": [{"template_id": one, "percent": 50}, {"template_id": two, "percent": 40}]},
         "percentages add up to 90, not 100"),
        ({"variants": [{"template_id": one, "percent": 100}]}, "at least two variants"),
        ({"variants": [{"template_id": two, "percent": 50}, {"template_id": one, "percent": 50}]},
         "variant A is the node's own mail"),
    ]
    for ab, text in cases:
        resp = _call(client, api_key, "PUT", f"/journeys/{jid}", {"graph": with_ab(ab)})
        body = resp.get_json()
        assert resp.status_code == 422, body
        assert body["details"] == {"node": node["id"]} and text in body["message"], body
    good = with_ab({"variants": [{"template_id": one, "percent": 60}, {"template_id": two, "percent": 40}]})
    assert _call(client, api_key, "PUT", f"/journeys/{jid}", {"graph": good}).status_code == 200
    assert _call(client, api_key, "POST", f"/journeys/{jid}/publish", {}).status_code == 200
    with services.db.factory() as s:
        test = s.scalar(select(ABTest).where(ABTest.journey_id == jid))
        assert test is not None and test.node_key == node["id"] and test.status is ABStatus.TESTING
        assert [(v.template_id, v.percent) for v in test.variants] == [(one, 60), (two, 40)]
        assert s.scalar(select(func.count()).select_from(ABTest)) == 1
