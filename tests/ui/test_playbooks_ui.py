"""The playbook page and the template gallery through the Flask client: the confirmation comes before anything
is created, the install makes its pieces and links each one, the gallery's previews are mails under the
preview CSP, and "Use this mail" makes a block-mail template."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from campaigns.models import Journey, Template
from campaigns.playbooks import PLAYBOOKS
from tests.sending_helpers import setup_account


def _count(services: Any, model: Any) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_the_page_lists_every_playbook_in_both_languages(ui: Any) -> None:
    page = ui.get("/playbooks/").get_data(as_text=True)
    for p in PLAYBOOKS:
        assert f'data-testid="install-{p.key}"' in page
    assert "Document request follow-up" in page and "Playbooks" in page
    ui.post("/lang/ja", {"next": "/"})
    page = ui.get("/playbooks/").get_data(as_text=True)
    assert "資料請求フォロー" in page and "施策テンプレート" in page and "作成されるもの" in page
    assert "Document request follow-up" not in page
    assert '<option value="ja" selected>' in page  # the mails default to the UI's language


def test_install_asks_first_then_creates_and_links_every_piece(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
    first = ui.post("/playbooks/seminar/install", {"language": "ja"}, page="/playbooks/")
    text = first.get_data(as_text=True)
    assert first.status_code == 200 and 'data-testid="confirm-panel"' in text
    assert "Webinar registration form" not in text and _count(services, Journey) == 0  # nothing yet
    done = ui.post("/playbooks/seminar/install", {"language": "ja", "confirm_step": "confirmed",
                                                 "confirm_count": ""}, page="/playbooks/")
    assert done.status_code == 302 and done.headers["Location"].endswith("/playbooks/installed")
    assert _count(services, Journey) == 1 and _count(services, Template) == 4
    page = ui.get("/playbooks/installed").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)" data-testid="piece-link">([^<]+)</a>', page)
    assert len(links) == 1 + 4 + 1 + 1 + 1  # journey, templates, segment, form, broadcast
    assert any(name == "セミナー" for _url, name in links)
    for url, name in links:
        assert ui.get(url).status_code in (200, 302), (url, name)  # a block mail's page may go to its editor


def test_a_bad_playbook_or_language(ui: Any, services: Any) -> None:
    assert ui.post("/playbooks/nope/install", {"language": "ja"}, page="/playbooks/").status_code == 404
    # an unknown language falls back to the UI's language on the confirmation
    page = ui.post("/playbooks/by_role/install", {"language": "xx"}, page="/playbooks/").get_data(as_text=True)
    assert "English" in page
    assert ui.get("/playbooks/installed").status_code == 302  # nothing installed yet: back to the list


def test_gallery_cards_previews_and_use(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
    assert 'href="/templates/gallery"' in ui.get("/templates/").get_data(as_text=True)  # New mail -> the gallery
    page = ui.get("/templates/gallery?lang=ja").get_data(as_text=True)
    assert page.count('data-testid="starter-') >= 8 and "ニュースレター（月刊）" in page
    assert "{{" not in page and "〇〇様、今後も情報をお届けしてよろしいでしょうか" in page  # subjects in words, not Jinja
    preview = ui.get("/templates/gallery/ja/whitepaper/preview")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "sandbox" in preview.headers["Content-Security-Policy"]
    # the addressee line (company and family name from the sample contact), then the greeting
    assert re.search(r"[^|]+様\|+いつもお世話になっております", re.sub(r"<[^>]+>", "|", html))
    assert _count(services, Template) == 0  # a preview keeps nothing
    assert ui.get("/templates/gallery/fr/whitepaper/preview").status_code == 404
    assert ui.get("/templates/gallery/en/nope/preview").status_code == 404
    made = ui.post("/templates/gallery/en/case_study", page="/templates/gallery?lang=en")
    assert made.status_code == 302
    with services.db.begin() as s:
        template = s.scalars(select(Template)).one()
        assert template.name == "Customer story" and template.current_version.editor == "blocks"
        assert made.headers["Location"].endswith(f"/templates/{template.id}")
