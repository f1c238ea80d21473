"""Rendering: sandbox, compile-time CSS inlining and link rewriting, text part, personalisation, footer."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.delivery import rendering
from campaigns.delivery.rendering import TemplateError, compile_version, render_message, render_preview
from campaigns.links import TokenKind
from campaigns.models import Contact
from tests.sending_helpers import make_version, setup_account

LINKS_HTML = """<html><body>
<a href="https://example.com/one">One</a>
<a href="mailto:sales@acme.test">Mail us</a>
<a href="tel:+81312345678">Call</a>
<a href="#top">Top</a>
<a href="{{ unsubscribe_url }}">Leave</a>
<a href="https://example.com/p?e={{ contact.email }}">Personal</a>
<a href="https://example.com/quiet" data-nurture-notrack>Quiet</a>
<a href="https://example.com/skip">Skip</a>
<a href="https://example.com/two">Two</a>
</body></html>"""


def test_links_are_stored_in_document_order_and_tracked_only_where_allowed(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=LINKS_HTML)
        template = version.template
        v2 = compile_version(s, template, subject="x", html_source=LINKS_HTML,
                             untracked_urls=["https://example.com/skip"])
        links = [(link.position, link.url, link.tracked) for link in v2.links]
        compiled_html = v2.compiled_html
        assert template.current_version_id == v2.id and v2.version == 2
    assert links == [
        (1, "https://example.com/one", True),
        (2, "mailto:sales@acme.test", False),
        (3, "tel:+81312345678", False),
        (4, "#top", False),
        (5, "{{ unsubscribe_url }}", False),
        (6, "https://example.com/p?e={{ contact.email }}", False),
        (7, "https://example.com/quiet", False),
        (8, "https://example.com/skip", False),
        (9, "https://example.com/two", True),
    ]
    # Tracked destinations are gone from the compiled HTML (only placeholders), untracked ones stay.
    assert "https://example.com/one" not in compiled_html and "https://example.com/two" not in compiled_html
    assert "https://example.com/quiet" in compiled_html and "data-nurture-notrack" not in compiled_html


def test_render_message_signs_click_urls_for_the_send_and_adds_pixel_and_footer(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=LINKS_HTML)
        contact = Contact(email="hanako@example.jp", first_name="花子", last_name="山田")
        s.add(contact)
        s.flush()
        mail = render_message(s, version, contact, services, send_id=77)
        link_ids = {link.position: link.id for link in version.links}
        contact_id = contact.id
    urls = services.urls
    assert urls.click(77, link_ids[1]) in mail.html
    assert urls.click(77, link_ids[9]) in mail.html
    token = urls.click(77, link_ids[1]).rsplit("/", 1)[1]
    verified = services.signer.verify(token, TokenKind.CLICK)
    assert verified is not None and (verified.a, verified.b) == (77, link_ids[1])
    assert urls.open_pixel(77) in mail.html
    assert "https://example.com/p?e=hanako@example.jp" in mail.html
    # The footer: sender's name, postal address, contact and a visible unsubscribe link, in both parts.
    for part in (mail.html, mail.text):
        assert "Acme 株式会社" in part and "東京都千代田区丸の内1-1-1" in part and "support@acme.test" in part
        assert urls.unsubscribe(contact_id, 77) in part
    assert "__NURTURE_LINK_" not in mail.html + mail.text


def test_personalisation_defaults_attributes_and_account(services: Any) -> None:
    html = """<p>Hi {{ contact.first_name | default("friend") }} of {{ contact.company }}</p>
<p>{{ contact.attributes.industry | default("?") }} / {{ contact.attributes.missing.deeper }}</p>
<p>{{ account.company_name }}</p>"""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=html, subject="{{ contact.last_name }}様 {{ contact.job_title }}")
        empty = Contact(email="a@example.com", first_name="", company="Foo KK", attributes={"industry": "IT"})
        s.add(empty)
        s.flush()
        mail = render_message(s, version, empty, services, send_id=1)
    assert "Hi friend of Foo KK" in mail.html
    assert "IT / " in mail.html
    assert mail.subject == "様"
    assert mail.html.count("Acme 株式会社") >= 2


def test_fragment_gets_layout_and_hidden_preheader_and_css_is_inlined(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html='<style>.hot { color: #ff0000 }</style><p class="hot">Deal</p>',
                               preheader="Only today, {{ contact.first_name }}")
        compiled = version.compiled_html
        mail = render_preview(s, version, None, services)
    assert "<style" not in compiled.split("<body")[1]
    assert 'class="hot" style="color:#f00"' in compiled  # premailer (cssutils) shortens colours
    assert "Only today, Taro" in mail.html and "display:none" in mail.html
    assert "Only today" not in mail.text  # the preheader is an HTML trick only
    assert "Deal" in mail.text


def test_generated_text_part_writes_links_as_label_and_url(services: Any) -> None:
    html = """<h1>Welcome</h1><p>Read <a href="https://example.com/guide">the guide</a> now.</p>
<ul><li>First</li><li>Second</li></ul>"""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=html)
        mail = render_message(s, version, Contact(id=5, email="x@example.com"), services, send_id=9)
        preview = render_preview(s, version, None, services)
        link_id = version.links[0].id
    assert f"the guide ({services.urls.click(9, link_id)})" in mail.text
    assert "the guide (https://example.com/guide)" in preview.text
    assert "- First\n- Second" in mail.text
    assert "<" not in mail.text.split("--")[0]


def test_written_text_part_is_kept_and_gets_the_footer(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html="<p>x</p>", text_source="Hello {{ contact.first_name }} & <you>")
        mail = render_preview(s, version, None, services)
    assert mail.text.startswith("Hello Taro & <you>\n")  # no HTML escaping in the text part
    assert "配信停止 / Unsubscribe" in mail.text


def test_jinja_blocks_inside_tables_survive_the_html_parser(services: Any) -> None:
    html = """<table>{% for item in contact.attributes['items'] %}<tr><td>{{ item }}</td></tr>{% endfor %}</table>"""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=html)
        contact = Contact(id=3, email="t@example.com", attributes={"items": ["alpha", "beta"]})
        mail = render_message(s, version, contact, services, send_id=3)
    assert "<tr><td>alpha</td></tr><tr><td>beta</td></tr>" in mail.html


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ contact.attributes.update({'x': 1}) }}",
    "{{ self._TemplateReference__context.environment }}{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('true') }}",
])
def test_sandbox_refuses_escapes_at_save_time(services: Any, source: str) -> None:
    with services.db.begin() as s:
        with pytest.raises(TemplateError):
            make_version(s, html=f"<p>{source}</p>")


def test_sandbox_hides_internals_when_only_read(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html="<p>[{{ ''.__class__.__mro__ }}][{{ contact.__class__ }}][{{ config }}]</p>")
        mail = render_preview(s, version, None, services)
    assert "[][][]" in mail.html
    assert "class" not in mail.html.split("[", 1)[1].split("]")[0]


def test_syntax_errors_name_the_part_and_line(services: Any) -> None:
    with services.db.begin() as s:
        with pytest.raises(TemplateError, match=r"HTML, line 3"):
            make_version(s, html="<p>one</p>\n<p>two</p>\n<p>{% if contact.first_name %}three</p>")
        with pytest.raises(TemplateError, match="subject"):
            make_version(s, subject="Hi {{ contact.first_name ")
        with pytest.raises(TemplateError, match="subject: required"):
            make_version(s, subject="  ")


def test_compiled_templates_are_cached_per_version(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s)
        first = rendering.compiled(s, version)
        again = rendering.compiled(s, version)
        v2 = compile_version(s, version.template, subject="Other", html_source="<p>Other</p>")
        other = rendering.compiled(s, v2)
    assert first is again
    assert other is not first and other.version_id == v2.id


def test_control_characters_are_a_template_error_not_a_crash(services):
    from campaigns.delivery.rendering import TemplateError, create_template

    with services.db.begin() as s:
        for html in ("<p>bell \x07</p>", "0\x1f", "<p>esc\x1b[0m</p>"):
            with pytest.raises(TemplateError, match="control character"):
                create_template(s, "t", subject="Hi", html_source=html)
