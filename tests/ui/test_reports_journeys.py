"""The reports index's journey section (campaigns.insights.journey_summary): each live or paused journey with who is
in it now, who reached its goal, walked to the end or left, a link to the journey's own report; test walks and
drafts left out; in Japanese with no English left. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from campaigns.automation.service import pause
from campaigns.models import Contact, JourneyEnrolment
from tests.factories import make_journey


def _row(html: str, journey_id: int) -> dict[str, str]:
    match = re.search(rf'<tr data-testid="journey-report-{journey_id}">(.*?)</tr>', html, re.S)
    assert match, "journey row missing"
    cells = dict(re.findall(r'data-testid="(\w+)">(.*?)</td>', match.group(1), re.S))
    text = {k: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", v)).strip() for k, v in cells.items()}
    return {**text, "html": match.group(1)}


def test_the_reports_list_live_journeys_with_their_walks(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        live = make_journey(s, name="Welcome シナリオ")
        paused = make_journey(s, name="Nurture B")
        draft = make_journey(s, name="Draft only", publish=False)
        contacts = [Contact(email=f"w{i}@acme.test") for i in range(9)]
        s.add_all(contacts)
        s.flush()
        start = str(live.draft_graph.get("start") or "start")  # where the walks stand (the section counts walks)
        statuses = ["active"] * 3 + ["converted"] * 2 + ["completed", "exited"]
        for contact, status in zip(contacts, statuses, strict=False):
            s.add(JourneyEnrolment(journey_id=live.id, contact_id=contact.id, version_id=live.live_version_id,
                                   status=status, node_key=start))
        # the marketer's own test walk counts for nobody
        s.add(JourneyEnrolment(journey_id=live.id, contact_id=contacts[7].id, version_id=live.live_version_id,
                               status="active", node_key=start, test=True))
        s.add(JourneyEnrolment(journey_id=paused.id, contact_id=contacts[8].id, version_id=paused.live_version_id,
                               status="active", node_key=start))
        pause(s, paused)
        live_id, paused_id, draft_id = live.id, paused.id, draft.id
    html = ui.get("/reports/").get_data(as_text=True)
    row = _row(html, live_id)
    assert (row["active"], row["entered"], row["completed"], row["exited"]) == ("3", "7", "1", "1")
    assert row["converted"] == "2 28.6%"
    assert f'href="/journeys/{live_id}"' in row["html"] and "Live" in row["html"]
    assert _row(html, paused_id)["active"] == "1" and "Paused" in _row(html, paused_id)["html"]
    assert f"journey-report-{draft_id}" not in html
    assert html.index(f"journey-report-{live_id}") < html.index(f"journey-report-{paused_id}")  # live first
    ja = ui.get("/reports/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    section = ja[ja.index('data-testid="journey-reports"'):ja.index("</table>", ja.index('data-testid="journey-reports"'))]
    for english in ("In it now", "Entered", "Reached the goal", "Walked to the end", "Left early", "Live", "Paused"):
        assert english not in section, english
    assert "ゴール達成" in section and "公開中" in section


def test_no_live_journey_says_what_to_do(ui: Any, services: Any) -> None:
    html = ui.get("/reports/").get_data(as_text=True)
    assert 'data-testid="empty-journey-reports"' in html and 'href="/journeys/"' in html
