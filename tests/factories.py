"""The one place tests build contacts, templates and sequences.

Every factory takes a SQLAlchemy Session, adds its rows, flushes (ids are set) and returns the model
object; the caller's transaction decides when it is committed. Tests that drive the app over HTTP and
need only an id use `committed(services, factory, ...)`, which runs the factory in a transaction of
its own:

    with services.db.begin() as s:                          # several objects, one transaction
        template = make_template(s, "Welcome")
        make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}])

    tid = committed(services, make_template, compiled=True)  # one object, its id
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from campaigns.automation.linear import activate_sequence
from campaigns.journeys.sequences import create_sequence
from campaigns.models import Contact, Sequence, Template, TemplateVersion

# The builder's test template (compiled=True): CSS to inline, two tracked links, merge fields.
TEMPLATE_HTML = """<html><head><style>.cta { color: #ff0000; font-weight: bold; }</style></head>
<body><p>Hello {{ contact.first_name | default("there") }} from {{ contact.company | default("your company") }}</p>
<p><a class="cta" href="https://acme.test/whitepaper">Get the whitepaper</a></p>
<p><a href="https://acme.test/pricing">Pricing</a></p></body></html>"""
TEMPLATE_SUBJECT = "Hi {{ contact.first_name }}"

_addresses = itertools.count(1)


def committed(services: Any, factory: Callable[..., Any], /, *args: Any, **kw: Any) -> int:
    """Run `factory(session, *args, **kw)` in a transaction of its own on the app's database and return
    the new object's id (for tests that then use the UI or the API)."""
    with services.db.begin() as s:
        return int(factory(s, *args, **kw).id)


def make_contact(session: Session, email: str | None = None, **fields: Any) -> Contact:
    """One contact, active by default (the model's defaults: status, empty names and attributes). Without an
    address it gets a unique one, lead<n>@example.jp. `fields` are Contact columns (first_name, company,
    status, stage, attributes...)."""
    contact = Contact(email=email or f"lead{next(_addresses)}@example.jp", **fields)
    session.add(contact)
    session.flush()
    return contact


def make_contacts(session: Session, count: int, prefix: str = "lead", **fields: Any) -> list[Contact]:
    """`count` active contacts <prefix>0@example.com, <prefix>1@example.com, ... named Name0, Name1, ...
    at company "Example" with attributes {"plan": "pro"} (what the rendering and sending tests print);
    first_name, last_name, company and attributes override those for all of them."""
    contacts = [
        Contact(email=f"{prefix}{i}@example.com", first_name=fields.get("first_name", f"Name{i}"),
                last_name=fields.get("last_name", ""), company=fields.get("company", "Example"),
                attributes=fields.get("attributes", {"plan": "pro"}))
        for i in range(count)
    ]
    session.add_all(contacts)
    session.flush()
    return contacts


def make_template(session: Session, name: str = "Welcome", *, subject: str | None = None, html: str | None = None,
                  text: str = "Hi", with_version: bool = True, compiled: bool = False, **options: Any) -> Template:
    """A template.

    By default its rows are written directly, without the rendering service: one saved version (version 1)
    made current, subject "<name> subject", HTML "<p>Hi</p>" used as both source and compiled form, text
    `text`; no links are recorded (planning and enrolment never look at the compiled form).
    with_version=False leaves the template without any version (a draft nobody saved).

    compiled=True builds it through campaigns.delivery.rendering.create_template instead, as the editor
    does (CSS inlined, links recorded, text part derived): subject TEMPLATE_SUBJECT and HTML TEMPLATE_HTML
    unless given; `options` go to create_template (text_source, preheader, from_name, untracked_urls).
    """
    if compiled:
        from campaigns.delivery.rendering import create_template

        return create_template(session, name, subject=TEMPLATE_SUBJECT if subject is None else subject,
                               html_source=TEMPLATE_HTML if html is None else html, **options)
    if options:
        raise TypeError(f"make_template: {sorted(options)} need compiled=True")
    template = Template(name=name)
    session.add(template)
    session.flush()
    if with_version:
        body = "<p>Hi</p>" if html is None else html
        version = TemplateVersion(template_id=template.id, version=1,
                                  subject=f"{name} subject" if subject is None else subject,
                                  html_source=body, compiled_html=body, compiled_text=text)
        session.add(version)
        session.flush()
        template.current_version_id = version.id
        session.flush()
    return template


def make_sequence(session: Session, steps: list[dict[str, Any]], *, name: str = "Nurture", active: bool = True,
                  **fields: Any) -> Sequence:
    """A sequence built by the sequences service (create_sequence: the builder's validation), activated
    unless active=False: then it runs as a live linear journey (automation.linear.activate_sequence, as the
    builder's and the API's activate do; walk_entry.journey_of_sequence finds it). Each step dict gives
    template_id and may give delay_minutes and window fields; `fields` are create_sequence's keywords
    (trigger_events, exit_events, goal_event, allow_reentry...)."""
    sequence = create_sequence(session, name, steps=steps, **fields)
    if active:
        activate_sequence(session, sequence)
    return sequence


# ------------------------------------------------------------------ journeys (campaigns.automation)
def linear_graph(template_ids: list[int], wait_minutes: int = 60) -> dict[str, Any]:
    """A journey graph send, wait, send, ... ending after the last send: nodes "s1", "w1", "s2", ... (the
    simplest valid graph with a given number of mails)."""
    nodes: list[dict[str, Any]] = []
    for i, template_id in enumerate(template_ids, 1):
        if i > 1:
            nodes.append({"id": f"w{i - 1}", "type": "wait", "wait": {"minutes": wait_minutes}})
        nodes.append({"id": f"s{i}", "type": "send", "template_id": template_id})
    edges = [{"from": a["id"], "exit": "next", "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"start": nodes[0]["id"], "nodes": nodes, "edges": edges, "layout": {}}


def make_journey(session: Session, graph: dict[str, Any] | None = None, *, name: str = "Scenario",
                 settings: dict[str, Any] | None = None, publish: bool = True) -> Any:
    """A journey built by the automation service (create_journey: the graph rules apply), published
    (live) unless publish=False. Without a graph it gets linear_graph of one new template."""
    from campaigns.automation.service import create_journey
    from campaigns.automation.service import publish as publish_journey

    if graph is None:
        graph = linear_graph([make_template(session, f"{name} mail").id])
    journey = create_journey(session, name, graph=graph, settings=settings)
    if publish:
        publish_journey(session, journey)
    session.flush()
    return journey


# ------------------------------------------------------------------ website visits (campaigns.models.web)
_visit_keys = itertools.count(1)


def make_visitor(session: Session, contact_id: int | None = None, *, organisation: str = "", **fields: Any) -> Any:
    """A web visitor (anonymous unless contact_id is given), as the collection endpoint would store it."""
    from campaigns.models import WebVisitor

    n = next(_visit_keys)
    visitor = WebVisitor(visitor_key=f"{n:032x}", contact_id=contact_id, organisation=organisation,
                         identified_by="mail_click" if contact_id else "", **fields)
    session.add(visitor)
    session.flush()
    return visitor


def make_visit(session: Session, visitor: Any, path: str = "/", *, at: Any = None, title: str = "",
               host: str = "www.acme.test", human: bool = True, **fields: Any) -> Any:
    """One page view of `visitor` (the contact copied from it), written straight into web_visits as the hit
    writer would: the URL from host and path, classified human (or a bot with human=False)."""
    from campaigns.db import now_utc
    from campaigns.models import HitClass, WebVisit

    n = next(_visit_keys)
    when = at or now_utc()
    values: dict[str, Any] = {
        "event_id": f"v{n:031x}", "visitor_id": visitor.id, "contact_id": visitor.contact_id,
        "url": f"https://{host}{path}", "host": host, "path": path.split("?")[0], "title": title,
        "organisation": visitor.organisation,
        "classification": HitClass.HUMAN if human else HitClass.SCANNER, "reason": "" if human else "bot",
        "occurred_at": when,
    }
    values.update(fields)
    visit = WebVisit(**values)
    session.add(visit)
    visitor.last_seen_at = max(visitor.last_seen_at or when, when)
    session.flush()
    return visit
