"""Scoring through the JSON API and the web UI: rule CRUD, a contact's history and timeline, stages set
by the API and by sales, the delivery log's retry button, Japanese labels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaigns.db import now_utc
from campaigns.models import (
    Contact,
    DeliveryState,
    Event,
    ScoreTrigger,
    ScoringRule,
    Stage,
    StageChange,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
)
from campaigns.scoring import engine, rules
from tests.api.test_api import Api
from tests.factories import make_contact


def test_rule_crud_over_the_api(client: Any, api_key: str, session: Any) -> None:
    api = Api(client, api_key)
    resp = api.post("/scoring/rules", {"name": "Whitepaper", "kind": "form_submitted", "points": 15,
                                       "property_key": "form", "property_value": "whitepaper", "daily_cap": 1})
    assert resp.status_code == 201, resp.get_json()
    rule = resp.get_json()
    assert (rule["kind"], rule["points"], rule["daily_cap"]) == ("form_submitted", 15, 1)
    resp = api.post("/scoring/rules", {"name": "Broken", "kind": "custom_event", "points": 5})
    assert resp.status_code == 422 and "event name" in resp.get_json()["message"]
    resp = api.post("/scoring/rules", {"name": "Bad", "kind": "page_viewed", "points": "10"})
    assert resp.status_code == 422 and resp.get_json()["details"]["points"] == "must be an integer"
    assert api.put(f"/scoring/rules/{rule['id']}", {"points": 20}).get_json()["points"] == 20
    assert api.get(f"/scoring/rules/{rule['id']}").get_json()["name"] == "Whitepaper"
    assert [r["id"] for r in api.get("/scoring/rules").get_json()["data"]] == [rule["id"]]
    assert api._call("DELETE", f"/scoring/rules/{rule['id']}").get_json() == {"deleted": True, "id": rule["id"]}
    assert api.get(f"/scoring/rules/{rule['id']}").status_code == 404
    assert session.scalar(select(ScoringRule.id)) is None


def test_contact_history_timeline_and_stage_over_the_api(app: Any, client: Any, api_key: str, services: Any,
                                                        session: Any) -> None:
    api = Api(client, api_key)
    rules.create_rule(session, {"name": "Pricing page", "kind": "page_viewed", "points": 25})
    s = rules.get_settings(session)
    s.warm_at, s.hot_at, s.half_life_days = 20, 100, 0
    contact = make_contact(session)
    session.add(Event(contact_id=contact.id, name="page_viewed", properties={"url": "/pricing"}))
    session.commit()
    with app.app_context():
        engine.run_scoring(services)
    body = api.get(f"/contacts/{contact.id}/scoring").get_json()
    assert (body["score"], body["stage"]) == (25, "warm")
    assert [(h["rule"], h["points"]) for h in body["history"]] == [("Pricing page", 25)]
    assert [(t["from_stage"], t["to_stage"], t["cause"]) for t in body["timeline"]] == [("cold", "warm", "score_threshold")]

    resp = api.put(f"/contacts/{contact.id}/stage", {"stage": "sql", "note": "call booked"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["stage"] == "sql"
    last = resp.get_json()["timeline"][-1]
    assert (last["from_stage"], last["to_stage"], last["cause"], last["detail"]) == ("warm", "sql", "api", "call booked")
    assert api.put(f"/contacts/{contact.id}/stage", {"stage": "hot"}).status_code == 422
    assert api.put("/contacts/999999/stage", {"stage": "sql"}).status_code == 404
    assert api.get("/contacts/999999/scoring").status_code == 404


def test_api_stage_change_fires_the_webhook_trigger(client: Any, api_key: str, session: Any) -> None:
    contact = make_contact(session)
    session.add(ScoreTrigger(name="SQL to CRM", when=TriggerWhen.STAGE, stage="sql", action=TriggerAction.WEBHOOK,
                             webhook_url="http://127.0.0.1:9/hook", webhook_secret="whsec_test"))
    session.commit()
    assert Api(client, api_key).put(f"/contacts/{contact.id}/stage", {"stage": "sql"}).status_code == 200
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.payload["stage_change"]["cause"] == "api" and delivery.contact_id == contact.id
    # Enqueued right after the commit: its due time moved forward by the enqueue lease.
    assert delivery.next_retry_at > now_utc()


def test_ui_rules_settings_and_validation(ui: Any, session: Any) -> None:
    page = ui.get("/scoring")
    assert page.status_code == 200 and b'data-testid="rules"' in page.data
    resp = ui.post("/scoring/rules/new", {"name": "Demo request", "kind": "custom_event", "event_name": "",
                                          "points": "30", "daily_cap": "0", "active": "1"})
    assert resp.status_code == 422 and "custom event rule needs the event name" in resp.get_data(as_text=True)
    assert 'value="Demo request"' in resp.get_data(as_text=True)  # the input survives the error
    resp = ui.post("/scoring/rules/new", {"name": "Demo request", "kind": "custom_event",
                                          "event_name": "demo_requested", "points": "30", "daily_cap": "0",
                                          "sets_mql": "1", "active": "1"})
    assert resp.status_code == 302
    rule = session.scalars(select(ScoringRule)).one()
    assert (rule.event_name, rule.points, rule.sets_mql, rule.active) == ("demo_requested", 30, True, True)
    assert "Demo request" in ui.get("/scoring").get_data(as_text=True)

    resp = ui.post("/scoring/settings", {"warm_at": "50", "hot_at": "40", "half_life_days": "30"})
    assert resp.status_code == 422 and "hot threshold must be above" in resp.get_data(as_text=True)
    resp = ui.post("/scoring/settings", {"warm_at": "15", "hot_at": "60", "half_life_days": "14", "mql_when_hot": "1"})
    assert resp.status_code == 302
    session.expire_all()
    settings = rules.get_settings(session)
    assert (settings.warm_at, settings.hot_at, settings.half_life_days, settings.mql_when_hot) == (15, 60, 14, True)
    assert ui.client.get("/scoring/settings").status_code == 405  # GET never changes state


def test_ui_contact_page_shows_history_timeline_and_sales_sets_sql(ui: Any, session: Any, services: Any, app: Any) -> None:
    rules.create_rule(session, {"name": "Webinar", "kind": "webinar_attended", "points": 60})
    contact = make_contact(session)
    session.add(Event(contact_id=contact.id, name="webinar_attended", properties={}))
    session.commit()
    with app.app_context():
        engine.run_scoring(services)
    html = ui.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert 'data-testid="score-chart"' in html and "<polyline" in html
    assert "Webinar" in html and "+60" in html
    assert "Cold → <strong>Hot</strong>" in html and "Hot → <strong>MQL</strong>" in html
    resp = ui.post(f"/scoring/contacts/{contact.id}/stage", {"stage": "customer", "note": "signed"},
                   page=f"/contacts/{contact.id}")
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Contact, contact.id).stage == Stage.CUSTOMER
    change = session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
    assert (change.cause, change.to_stage) == ("sales", "customer")
    assert "marketer@acme.test" in change.detail and "signed" in change.detail
    resp = ui.post(f"/scoring/contacts/{contact.id}/stage", {"stage": "cold"}, follow_redirects=True)
    assert "only mql, sql and customer" in resp.get_data(as_text=True)


def test_ui_triggers_and_delivery_log_retry(ui: Any, session: Any) -> None:
    resp = ui.post("/scoring/triggers/new", {"name": "To CRM", "when": "stage", "stage": "sql", "action": "webhook",
                                             "webhook_url": "ftp://crm.example.com", "active": "1"})
    assert resp.status_code == 422 and "http:// or https://" in resp.get_data(as_text=True)
    resp = ui.post("/scoring/triggers/new", {"name": "To CRM", "when": "stage", "stage": "sql", "action": "webhook",
                                             "webhook_url": "http://127.0.0.1:9/hook", "active": "1"})
    assert resp.status_code == 302
    trigger = session.scalars(select(ScoreTrigger)).one()
    assert trigger.webhook_secret.startswith("whsec_")
    assert trigger.webhook_secret in ui.get(f"/scoring/triggers/{trigger.id}").get_data(as_text=True)
    contact = make_contact(session)
    delivery = WebhookDelivery(delivery_id="dlv_test", trigger_id=trigger.id, contact_id=contact.id,
                               url=trigger.webhook_url, payload={"id": "dlv_test"}, state=DeliveryState.FAILED,
                               attempts=8, last_status=503, response_excerpt="maintenance",
                               history=[{"attempt": 8, "at": "2026-11-22T09:00:00+00:00", "status": 503, "ok": False,
                                         "excerpt": "maintenance"}])
    session.add(delivery)
    session.commit()
    log_page = ui.get("/scoring/deliveries").get_data(as_text=True)
    assert "dlv_test" not in log_page and "maintenance" in log_page and "503" in log_page
    assert "maintenance" in ui.get(f"/scoring/deliveries/{delivery.id}").get_data(as_text=True)
    resp = ui.post(f"/scoring/deliveries/{delivery.id}/retry", {}, page=f"/scoring/deliveries/{delivery.id}")
    assert resp.status_code == 302
    session.expire_all()
    row = session.get(WebhookDelivery, delivery.id)
    assert row.state == DeliveryState.RETRYING and row.next_retry_at is not None


def test_ui_in_japanese(ui: Any) -> None:
    ui.post("/lang/ja", {"next": "/scoring"})
    html = ui.get("/scoring").get_data(as_text=True)
    assert "リードスコアリング" in html and "ルール" in html
    assert "スコアリング" in html  # the nav entry
