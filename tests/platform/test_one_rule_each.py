"""One home per rule: the rules that used to be written twice (and disagreed) now live in one function,
and every path a value takes gives the same answer: name order by script, the address rule, IP privacy
and the queueing policy (sender identity and Message-ID: tests/scoring/test_webhooks.py, test_sending)."""

from __future__ import annotations

import email.policy
from dataclasses import replace
from email import message_from_bytes
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import select

from campaigns import queueing
from campaigns.addresses import is_valid_address, normalize_email
from campaigns.delivery.mime import format_address
from campaigns.engagement.hit_buffer import make_entry
from campaigns.ip_privacy import stored_ip
from campaigns.leads import forms
from campaigns.leads.contacts import upsert_contact
from campaigns.models import Contact, FormSubmission
from campaigns.models.tracking import HitKind
from campaigns.names import display_name, split_full_name

# A name cell as people type it, and how its language writes the name back.
NAMES = [
    ("김 민수", "민수", "김"),  # Hangul: family name first
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾀﾛｳ", "ﾔﾏﾀﾞ"),  # half-width katakana (old Japanese systems export it): family name first
    ("山田　太郎", "太郎", "山田"),  # CJK with an ideographic space
    ("Emily Smith", "Emily", "Smith"),  # Latin: given name first
]


@pytest.mark.parametrize(("cell", "first", "last"), NAMES)
def test_a_name_is_stored_and_shown_in_the_same_order(cell: str, first: str, last: str) -> None:
    assert split_full_name(cell) == (first, last)
    assert display_name(first, last) == " ".join(cell.replace("\u3000", " ").split())


@pytest.mark.parametrize(("cell", "first", "last"), NAMES)
def test_an_imported_full_name_reaches_the_to_header_as_it_was_written(services: Any, cell: str, first: str,
                                                                      last: str) -> None:
    with services.db.begin() as s:
        contact, _ = upsert_contact(s, {"email": "lead@example.jp", "full_name": cell})
        assert (contact.first_name, contact.last_name) == (first, last)
        shown = contact.name
    written = " ".join(cell.replace("\u3000", " ").split())
    assert shown == written
    header = format_address(shown, "lead@example.jp")
    parsed = message_from_bytes(f"To: {header}\r\n\r\n".encode(), policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == written


@pytest.mark.parametrize("raw", ["Taro.Yamada@Example.CO.JP", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", " lead@example.jp ",
                                 "mailto:lead@example.jp", "a@b", "a..b@example.jp", "lead@例え.jp", ""])
def test_an_address_is_valid_for_a_header_only_when_it_is_its_own_normal_form(raw: str) -> None:
    normalized = normalize_email(raw)
    # The header check never admits what the input rule refuses, and admits the normal form it gives.
    if normalized is None:
        assert not is_valid_address(raw)
    else:
        assert is_valid_address(normalized)
        assert is_valid_address(raw) == (raw.lower() == normalized.lower())


def test_the_api_the_settings_page_and_imports_agree_on_addresses(services: Any, client: Any, ui: Any) -> None:
    # Full-width input (an Excel export) is an address for the API's contact upsert, as for imports.
    api_ok = normalize_email("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    assert api_ok == "taro@example.jp"
    # The settings page refuses a sender address that no mail could carry.
    bad = ui.post("/settings/", page="/settings/", data={"company_name": "Acme", "from_name": "Acme", "from_email": "a@b",
                                      "postal_address": "Tokyo", "contact_info": "x", "timezone": "Asia/Tokyo",
                                      "freq_cap_count": "0", "freq_cap_days": "7"})
    assert bad.status_code == 200 and "Saved." not in bad.get_data(as_text=True)
    with services.db.begin() as s:
        from campaigns.users import get_account

        assert get_account(s).from_email != "a@b"


def test_a_visitor_hashes_alike_in_hits_and_form_submissions(app: Any, services: Any, client: Any) -> None:
    services.settings = replace(services.settings, ip_privacy="hash")
    with services.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(name="Hash", consent_text="同意します。"))
        slug = form.slug
    resp = client.post(f"/f/{slug}", data={"email": "visitor@example.jp", "last_name": "山田", "first_name": "太郎",
                             "company": "サンプル株式会社", "consent": "1"},
                       environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert resp.status_code == 303
    with services.db.begin() as s:
        submission = s.scalars(select(FormSubmission)).one()
        stored_in_form = submission.ip
    entry = make_entry(services, HitKind.OPEN, 1, 0, "Mozilla/5.0", "203.0.113.77")
    assert stored_in_form == entry["ip"] == stored_ip(services.settings, "203.0.113.77")
    assert stored_in_form not in ("", "203.0.113.77", "203.0.113.0")  # hashed, not stored or truncated


def test_every_enqueue_names_its_job_and_carries_its_policy(services: Any, redis_conn: Any) -> None:
    queue = services.queue
    queueing.enqueue_deliveries(queue, [1, 2, 3], batch_size=2, rate_per_second=0)
    queueing.enqueue_import(queue, 7)
    queueing.enqueue_segment_enrolment(queue, 3, None)
    queueing.enqueue_confirmation(queue, 9)
    queueing.enqueue_hand_over(queue, [11])
    jobs = [Job.fetch(job_id, connection=queue.connection) for job_id in queue.job_ids]
    seen = [(job.func_name, job.args, job.timeout, job.retries_left, job.failure_ttl) for job in jobs]
    assert seen == [
        ("campaigns.jobs.deliver_batch", ([1, 2],), 600, 5, 7 * 86400),
        ("campaigns.jobs.deliver_batch", ([3],), 600, 5, 7 * 86400),
        ("campaigns.jobs.run_import", (7,), 6 * 3600, None, 7 * 86400),
        ("campaigns.jobs.enroll_segment", (3, None), 3600, None, 7 * 86400),
        ("campaigns.jobs.send_form_confirmation", (9,), 120, 3, 7 * 86400),
        ("campaigns.jobs.deliver_hand_over", (11,), 120, 3, 7 * 86400),
    ]
    # A per-server rate limit stretches a delivery job's time limit (three times a full batch's time).
    queue.empty()
    queueing.enqueue_deliveries(queue, list(range(1000)), batch_size=1000, rate_per_second=1.0)
    [job_id] = queue.job_ids
    assert Job.fetch(job_id, connection=queue.connection).timeout == 3000


def test_a_contact_keeps_the_name_order_of_its_language_in_the_database(services: Any) -> None:
    with services.db.begin() as s:
        upsert_contact(s, {"email": "kim@example.kr", "full_name": "김 민수"})
    with services.db.begin() as s:
        contact = s.scalar(select(Contact).where(Contact.email == "kim@example.kr"))
        assert contact is not None and (contact.last_name, contact.first_name, contact.name) == ("김", "민수", "김 민수")
