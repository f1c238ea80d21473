"""The template sandbox's limits: templates that are fast on the sample data but explode on one contact's
data (output amplified by a filter, a method, an operator or formatting; numbers grown by chained `**`;
loops and recursion over data) are refused with a reason when that contact's mail is rendered, the size of
what was made staying under the cap; Python reprs of internal objects (functions with memory addresses,
`self`, `lipsum`, `cycler`, lists) never reach a preview or a sent mail.

The outcome is asserted, not a timing: without the limits these renders take seconds to hours, or build
tens of megabytes, and the assertions on the error fail (pytest's --timeout ends the slow ones)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.delivery import rendering
from campaigns.delivery.sending import deliver_batch
from campaigns.models import Send, SendStatus, TemplateVersion
from tests.factories import make_contacts, make_template
from tests.sending_helpers import plan_sends, setup_account

CAP = "longer than 100,000 characters"
SLOW = "takes too long to render"
DIGITS = "digits are not allowed"

# The data of the contact that makes each template explode; the sample data (no attributes) and GOOD
# render in a moment.
BAD = {"n": 10_000_000, "k": 50_000, "w": 10_000, "b": 2 ** 64, "d": 40, "s": "x" * 50_000,
       "list": ["x" * 1_000]}
GOOD = {"n": 5, "k": 3, "w": 2, "b": 1, "d": 2, "s": "xy", "list": ["a", "b"]}

VECTORS = [
    # (template, the reason the exploding contact's render gives)
    ("{{ 'x' | center(contact.attributes.n | default(10)) }}", CAP),
    ("{{ 'x'.ljust(contact.attributes.n | default(1)) }}", CAP),
    ("{{ 'x'.zfill(contact.attributes.n | default(1)) }}", CAP),
    ("{{ ('%' ~ (contact.attributes.n | default(1)) ~ 's') | format('x') }}", CAP),
    ("{{ ('%' ~ (contact.attributes.n | default(1)) ~ 'd') % 7 }}", CAP),
    ("{{ '{:>{w}}'.format('x', w=contact.attributes.n | default(1)) }}", CAP),
    ("{{ '{:.{p}f}'.format(1.5, p=contact.attributes.n | default(1)) }}", CAP),
    ("{{ '{x:>{w}}'.format_map({'x': 1, 'w': contact.attributes.n | default(1)}) }}", CAP),
    ("{{ (contact.attributes.s | default('ab')) | replace('x', 'yyyyyyyyyy') }}", CAP),
    ("{{ (contact.attributes.s | default('ab')).replace('x', 'yyyyyyyyyy') }}", CAP),
    ("{{ range(contact.attributes.k | default(3)) | join('-' * 1000) }}", CAP),
    ("{{ ('-' * 1000).join(range(contact.attributes.k | default(3)) | map('string')) }}", CAP),
    ("{{ (['x' * 1000] * (contact.attributes.k | default(3))) | join }}", CAP),
    ("{{ ('x'.encode() * (contact.attributes.n | default(3))) | length }}", CAP),
    ("{{ ('a' ~ (contact.attributes.s | default('b')) ~ (contact.attributes.s | default('c'))"
     " ~ (contact.attributes.s | default('d'))) | length }}", CAP),
    ("{{ ('a\n' * 1000) | indent(contact.attributes.w | default(2), true) }}", CAP),
    ("{{ ('a ' * 5000) | wordwrap(1, wrapstring='-' * (contact.attributes.w | default(1))) }}", CAP),
    ("{{ [1] | batch(contact.attributes.n | default(2), 0) | list | length }}", CAP),
    ("{{ [1] | slice(contact.attributes.n | default(2)) | list | length }}", CAP),
    ("{{ 'a\tb'.expandtabs(contact.attributes.n | default(8)) }}", CAP),
    ("{{ ('x' * 1000).translate({120: '-' * (contact.attributes.w | default(1))}) }}", CAP),
    ("{{ (1).to_bytes(contact.attributes.n | default(1), 'big') | length }}", CAP),
    # compared, never printed: nothing but the size check stops the C-level power (a fourth ** 64: minutes)
    ("{{ (((contact.attributes.b | default(1)) ** 64) ** 64) ** 64 > 0 }}", DIGITS),
    ("{% set a = contact.attributes.s | default('x') %}{% set b %}{{ a }}{{ a }}{% endset %}"
     "{% set c %}{{ b }}{{ b }}{% endset %}{% set d %}{{ c }}{{ c }}{% endset %}{% set e %}{{ d }}{{ d }}{% endset %}"
     "{% set f %}{{ e }}{{ e }}{% endset %}{% set g %}{{ f }}{{ f }}{% endset %}{% set h %}{{ g }}{{ g }}{% endset %}"
     "{{ h | length }}", "longer than 4,000,000 characters"),
    ("{% for a in contact.attributes.s | default('') %}{% for b in contact.attributes.s | default('') %}"
     "{% endfor %}{% endfor %}", SLOW),
    ("{% macro twice(n) %}{% if n > 0 %}{{ twice(n - 1) }}{{ twice(n - 1) }}{% endif %}{% endmacro %}"
     "{{ twice(contact.attributes.d | default(2)) }}", SLOW),
    ("{% for x in [1, 2] recursive %}{% if loop.depth < (contact.attributes.d | default(2)) %}"
     "{{ loop([1, 2]) }}{% endif %}{% endfor %}", SLOW),
]


def _render(session: Any, version: TemplateVersion, attributes: dict[str, Any]) -> rendering.RenderedMail:
    contact = {"id": 1, "email": "taro@example.com", "first_name": "Taro", "attributes": attributes}
    return rendering.render_compiled(
        rendering.compiled(session, version), contact, {"company_name": "Acme"},
        unsubscribe_url="https://u.test/u", preferences_url="https://u.test/p", click_url=None, pixel_url=None,
    )


@pytest.mark.parametrize(("source", "reason"), VECTORS)
def test_a_template_fast_on_sample_data_fails_with_a_reason_on_data_that_would_explode_it(
        services: Any, source: str, reason: str) -> None:
    with services.db.begin() as s:
        # saved: the trial render with the sample data is quick and small
        version = rendering.create_template(s, "t", subject="Hello", html_source=f"<p>{source}</p>").current_version
        assert version is not None
        fine = _render(s, version, GOOD)
        assert len(fine.html) < 100_000
        with pytest.raises(rendering.TemplateError, match=reason):
            _render(s, version, BAD)


def test_ordinary_templates_render_as_before(services: Any) -> None:
    source = (
        "{% for i in range(200) %}{{ i }} {% endfor %}|{{ '-' * 10 }}|{{ 2 ** 10 }}|{{ 'x' | center(9) }}|"
        "{{ '%05.1f' % 3.14159 }}|{{ '%(a)s-%(b)s' % {'a': 1, 'b': contact.first_name} }}|"
        "{{ '{:,}'.format(1234567) }}|{{ contact.attributes.list | join(', ') }}|{{ [3, 1, 2] | sort | join }}|"
        "{{ 'a b' | replace(' ', '_') }}|{{ contact.attributes.missing }}|{{ contact.attributes.none }}|"
        "{{ 'x' ~ 1 ~ contact.first_name }}|{% set ns = namespace(total=0) %}{% for n in [1, 2, 3] %}"
        "{% set ns.total = ns.total + n %}{% endfor %}{{ ns.total }}|{{ {'a': 1} | tojson }}|{{ [1, 2] | sum }}|"
        "{{ 'Dear {}'.format(contact.first_name | upper) }}|{{ ('a b c ' * 3) | wordwrap(6, wrapstring='/ ') }}|{{ none }}"
    )
    with services.db.begin() as s:
        version = rendering.create_template(s, "t", subject="Hi", html_source=f"<p>{source}</p>").current_version
        assert version is not None
        html = _render(s, version, {"list": ["a", "b"], "none": None}).html
    expected = (
        " ".join(str(i) for i in range(200)) + " |----------|1024|    x    |003.1|1-Taro|1,234,567|a, b|123|a_b|||"
        "x1Taro|6|{\"a\": 1}|3|Dear TARO|a b c/ a b c/ a b c|<"
    )
    assert expected in html


@pytest.mark.parametrize(("source", "reason"), [
    # a width taken from the values cannot be checked before formatting starts
    ("{{ '%*d' % (contact.attributes.n | default(1), 7) }}", r"widths given by \* are not allowed"),
    # sum(start=[]) over lists copies each partial result: quadratic in the number of items
    ("{{ [[1], [2]] | sum(start=[]) }}", "sum can only add numbers"),
])
def test_forms_whose_cost_cannot_be_checked_ahead_are_refused_at_save(services: Any, source: str,
                                                                       reason: str) -> None:
    with services.db.begin() as s, pytest.raises(rendering.TemplateError, match=reason):
        rendering.create_template(s, "t", subject="s", html_source=f"<p>{source}</p>")


# ---------------------------------------------------------------- reprs
REPRS = [
    "{{ lipsum }}", "{{ cycler }}", "{{ joiner }}", "{{ namespace }}", "{{ self }}", "{{ range }}", "{{ dict }}",
    "{{ cycler(1, 2) }}", "{{ joiner() }}", "{{ namespace(a=1) }}", "{{ contact.attributes.items }}",
    "{{ 'x'.upper }}", "{{ lipsum ~ '' }}", "{{ 'see: ' ~ self }}", "{{ lipsum | string }}", "{{ cycler | e }}",
    "{{ self | pprint }}", "{{ '%s' % cycler }}", "{{ '%r' % (joiner,) }}", "{{ '{}'.format(self) }}",
    "{{ '{!r}'.format(lipsum) }}", "{{ [joiner] | join(', ') }}", "{{ [lipsum] }}", "{{ {'f': lipsum} }}",
    "{{ 'x' | replace('x', lipsum) }}", "{% for i in [1] %}{{ loop }}{% endfor %}",
    "{% macro m() %}{% endmacro %}{{ m }}", "{{ contact }}", "{{ range(3) }}",
]
REPR_SIGNS = ["<function", " at 0x", "<built-in", "<jinja2", "TemplateReference", "Cycler", "Joiner",
              "Namespace", "<class", "<Macro", "LoopContext", "range(", "{'", "['"]


def _no_repr(where: str, text: str) -> None:
    for sign in REPR_SIGNS:
        assert sign not in text, f"{where} shows {sign!r}: {text[:300]}"


@pytest.mark.parametrize("payload", REPRS)
def test_internal_objects_are_refused_at_save_and_in_the_live_preview(services: Any, ui: Any,
                                                                       payload: str) -> None:
    with services.db.begin() as s, pytest.raises(rendering.TemplateError, match="cannot be shown as text"):
        rendering.create_template(s, "t", subject="s", html_source=f"<p>{payload}</p>")
    resp = ui.post("/templates/preview", {"subject": "s", "html_source": f"<p>{payload}</p>", "text_source": ""},
                   page="/templates/new")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "cannot be shown as text" in body
    _no_repr("live preview", body.replace(payload, ""))


def test_versions_saved_before_the_limits_send_no_repr_and_fail_with_a_reason(services: Any,
                                                                             smtp_server: Any) -> None:
    """Versions stored before the sandbox refused reprs (rows written as they were) fail at send time, each
    with its reason; mail that shows only plain values still goes out."""
    with services.db.begin() as s:
        setup_account(s)
        contacts = make_contacts(s, 2, attributes={"plan": "pro", "tags": ["a", "b"]})
        ids = []
        for i, payload in enumerate(REPRS):
            template = make_template(s, f"old{i}", subject="Hello", html=f"<p>Hi {{{{ contact.first_name }}}} {payload}</p>",
                                     text="Hi")
            ids += plan_sends(s, s.get(TemplateVersion, template.current_version_id), contacts)
        clean = make_template(s, "clean", subject="Hello", html="<p>Plan {{ contact.attributes.plan }}</p>")
        clean_ids = plan_sends(s, s.get(TemplateVersion, clean.current_version_id), contacts)
        listed = make_template(s, "tags", subject="Hello", html="<p>{{ contact.attributes.tags }}</p>")
        listed_ids = plan_sends(s, s.get(TemplateVersion, listed.current_version_id), contacts)
    counts = deliver_batch(services, ids + clean_ids + listed_ids)
    assert counts["sent"] == len(clean_ids) and counts["failed"] == len(ids) + len(listed_ids)
    mails = smtp_server.wait_for(len(clean_ids))
    assert len(mails) == len(clean_ids)
    for mail in mails:
        decoded = "".join(p.get_content() for p in mail.message.walk() if p.get_content_maintype() == "text")
        assert "Plan pro" in decoded
        _no_repr("sent mail", decoded)
    with services.db.begin() as s:
        failed = {r.id: r for r in s.scalars(select(Send).where(Send.id.in_(ids + listed_ids)))}
    for send in failed.values():
        assert send.status is SendStatus.FAILED
        assert "cannot be shown as text" in send.error
        _no_repr("send error", send.error)
    assert "a list cannot be shown as text" in failed[listed_ids[0]].error
