"""Website visits as segment conditions (campaigns.audience.web_conditions): "visited a page matching ...
within N days", "at least K visits", "came from utm_source X", "visitor's company is ...". People only, known
contacts only. The page-pattern rule in SQL agrees with its Python twin on random visits and patterns.
Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.audience.describe import blank_values, describe_rules, name_error, vocabulary
from campaigns.audience.segments import SegmentError, count_segment, segment_contact_ids, validate_rules
from campaigns.audience.web_conditions import PatternError, clean_pattern, pattern_clause, pattern_matches
from campaigns.models import WebVisit
from tests.factories import make_contact, make_visit, make_visitor

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def people(services: Any) -> dict[str, int]:
    """Five contacts with visits: pricing twice recently, pricing once, pricing long ago, a bot on pricing,
    and an anonymous visitor on pricing (no contact)."""
    with services.db.begin() as s:
        ids = {name: make_contact(s, f"{name}@acme.test").id for name in ("twice", "once", "old", "botted", "none")}
        v = make_visitor(s, ids["twice"], organisation="Acme Corporation")
        make_visit(s, v, "/pricing", at=_ago(1), title="料金", utm_source="Newsletter")
        make_visit(s, v, "/pricing/enterprise", at=_ago(3))
        make_visit(s, v, "/blog/ai", at=_ago(2))
        v = make_visitor(s, ids["once"], organisation="Beta K.K.")
        make_visit(s, v, "/PRICING/", at=_ago(5))
        make_visit(s, v, "/case-studies/tokyo", at=_ago(6), utm_source="linkedin")
        v = make_visitor(s, ids["old"])
        make_visit(s, v, "/pricing", at=_ago(60))
        make_visit(s, v, "/pricing", at=_ago(61))
        v = make_visitor(s, ids["botted"], organisation="Acme Corporation")
        make_visit(s, v, "/pricing", at=_ago(1), human=False)
        make_visit(s, v, "/pricing", at=_ago(2), human=False, utm_source="newsletter")
        anonymous = make_visitor(s, None, organisation="Acme Corporation")
        make_visit(s, anonymous, "/pricing", at=_ago(1))
        make_visit(s, anonymous, "/pricing", at=_ago(1))
    return ids


def _who(services: Any, rules: dict[str, Any], people: dict[str, int]) -> set[str]:
    names = {v: k for k, v in people.items()}
    with services.db.begin() as s:
        return {names[i] for i in s.scalars(segment_contact_ids(rules, NOW))}


def test_visited_within_days_and_at_least(services, people):
    assert _who(services, {"all": [{"visited": "/pricing*", "within_days": 30}]}, people) == {"twice", "once"}
    assert _who(services, {"all": [{"visited": "/pricing*", "at_least": 2, "within_days": 30}]}, people) == {"twice"}
    assert _who(services, {"all": [{"visited": "/pricing*", "at_least": 2}]}, people) == {"twice", "old"}
    # without a * the page itself, trailing slash and letter case ignored; /pricing/enterprise is another page
    assert _who(services, {"all": [{"visited": "/pricing", "within_days": 30}]}, people) == {"twice", "once"}
    assert _who(services, {"all": [{"visited": "/pricing/enterprise"}]}, people) == {"twice"}
    # a full address, and a host without a scheme
    assert _who(services, {"all": [{"visited": "https://www.acme.test/case-studies/*"}]}, people) == {"once"}
    assert _who(services, {"all": [{"visited": "www.acme.test/blog/*"}]}, people) == {"twice"}
    assert _who(services, {"all": [{"visited": "other.test/*"}]}, people) == set()
    # any page, K visits in N days: bots and anonymous visitors never count
    assert _who(services, {"all": [{"visited": "*", "at_least": 3, "within_days": 7}]}, people) == {"twice"}
    assert _who(services, {"all": [{"visited": "*"}]}, people) == {"twice", "once", "old"}
    # negation by a group: visited pricing but not in the last 30 days
    rules = {"all": [{"visited": "/pricing*"}, {"any": [{"visited": "/blog/*"}, {"field": "email", "op": "starts_with",
                                                                                  "value": "old"}]}]}
    assert _who(services, rules, people) == {"twice", "old"}


def test_utm_source_and_company(services, people):
    assert _who(services, {"all": [{"utm_source": "newsletter"}]}, people) == {"twice"}  # case ignored; bot not
    assert _who(services, {"all": [{"utm_source": "LinkedIn", "within_days": 3}]}, people) == set()
    assert _who(services, {"all": [{"utm_source": "LinkedIn", "within_days": 7}]}, people) == {"once"}
    assert _who(services, {"all": [{"organisation": "acme corporation"}]}, people) == {"twice"}
    assert _who(services, {"all": [{"organisation": "K.K.", "op": "contains"}]}, people) == {"once"}
    assert _who(services, {"all": [{"organisation": "100%", "op": "contains"}]}, people) == set()  # % is literal
    with services.db.begin() as s:
        assert count_segment(s, {"any": [{"organisation": "Beta", "op": "contains"}, {"utm_source": "newsletter"}]},
                             NOW) == 2


def test_a_very_long_page_is_stored_and_matched(services):
    """A 1,998-character Japanese path (6,000 bytes) is stored (the page key in the index is its first 500
    characters, within a btree entry's limit) and matched by prefixes and by a star inside, not as a shorter page."""
    page = "/資料/" + "料金" * 997  # 1,998 characters, and the same with a trailing slash
    with services.db.begin() as s:
        contact = make_contact(s, "long@acme.test")
        visitor = make_visitor(s, contact.id)
        make_visit(s, visitor, page, at=_ago(1), utm_source="NewsLetter")
        make_visit(s, visitor, page + "/", at=_ago(2))
    with services.db.begin() as s:
        for cond in ({"visited": "/資料/*", "at_least": 2, "within_days": 7}, {"visited": page[:499] + "*"},
                     {"visited": "/資料/*料金/", "at_least": 1}, {"utm_source": "newsletter", "within_days": 7}):
            assert list(s.scalars(segment_contact_ids({"all": [cond]}, NOW))) == [contact.id], cond
        for cond in ({"visited": page[:498] + "x*"}, {"visited": page[:500]}):  # another prefix; a shorter page
            assert list(s.scalars(segment_contact_ids({"all": [cond]}, NOW))) == [], cond
        assert s.scalar(select(WebVisit.path_key).where(WebVisit.path == page)) == page[:500]


@pytest.mark.parametrize("cond, message", [
    ({"visited": ""}, "rules.all[0]: enter a page pattern"),
    ({"visited": "/a b"}, "rules.all[0]: enter a page pattern"),
    ({"visited": "/x" * 300}, "rules.all[0]: enter a page pattern"),
    ({"visited": "/p", "at_least": 0}, "number of visits must be a whole number from 1 to 1000"),
    ({"visited": "/p", "at_least": True}, "number of visits"),
    ({"visited": "/p", "within_days": 0}, "within_days must be a whole number"),
    ({"visited": "/p", "days": 3}, "unknown key(s) days in a website condition"),
    ({"utm_source": " "}, "enter a utm_source value"),
    ({"organisation": "Acme", "op": "starts_with"}, "a company condition is 'is' or 'contains'"),
    ({"organisation": 5}, "enter a company name"),
])
def test_bad_conditions_are_refused_with_a_reason(cond, message):
    with pytest.raises(SegmentError) as err:
        validate_rules({"all": [cond]})
    assert message in str(err.value)


def test_sentences_labels_and_editor_words():
    rules = {"all": [{"visited": "/pricing*", "at_least": 2, "within_days": 30}, {"utm_source": "newsletter"},
                     {"organisation": "Acme", "op": "contains"}, {"visited": "*"}]}
    assert describe_rules(rules, {}, "en") == (
        "Visited pages matching “/pricing*” at least 2 times in the last 30 days and came from utm_source "
        "“newsletter” and visited from a company whose name contains “Acme” and visited the website")
    assert describe_rules(rules, {}, "ja") == (
        "「/pricing*」に一致するページを2回以上訪問した（過去30日以内）、かつutm_sourceが「newsletter」のリンクから"
        "訪問した、かつ訪問元の企業名が「Acme」を含む、かつWebサイトを訪問した")
    assert describe_rules({"all": [{"visited": "/p", "within_days": 1}]}, {}, "en") == \
        "Visited a page matching “/p” in the last 1 day"
    assert list(blank_values({"all": [{"visited": " "}, {"utm_source": "x"}, {"organisation": ""}]})) == \
        ["rules.all[0]", "rules.all[2]"]
    rules = {"all": [{"field": "company", "op": "eq", "value": "x"}, {"visited": "/p", "at_least": 0}]}
    with pytest.raises(SegmentError) as err:
        validate_rules(rules)
    assert name_error(err.value, rules, "ja") == ("条件2（Webサイト訪問）: 訪問回数は1〜1000の整数で入力してください", 2)
    for lang, words in (("en", ("Website visit", "Came from (utm_source)", "Visitor's company")),
                        ("ja", ("Webサイト訪問", "流入元（utm_source）", "訪問元の企業"))):
        vocab = vocabulary(lang)
        kinds = dict(vocab["kinds"])
        assert (kinds["visit"], kinds["utm"], kinds["organisation"]) == words
        assert vocab["labels"]["visitAtLeast"] in ("at least %(n)s times", "%(n)s回以上")


def test_clean_pattern():
    assert clean_pattern("  /pricing*  ") == "/pricing*"
    for bad in ("", "   ", "/a\tb", "/a b", None, 5, "x" * 501):
        with pytest.raises(PatternError):
            clean_pattern(bad)


PATHS = ["/", "/pricing", "/pricing/", "/Pricing/Enterprise", "/pricing-old", "/blog/ai", "/blog/", "/ja/pricing",
         "/a_b", "/a%b", "/case-studies/tokyo", "/caseXstudies"]
HOSTS = ["www.acme.test", "acme.test", "docs.acme.test"]
# Around the page key's 500 characters (web_visits.path_key): pages and prefixes shorter than the key are decided
# by the key alone, longer ones and stars inside also by the whole path.
LONG = "/" + "a" * 498
PATHS += [LONG + "a", LONG + "/", LONG + "aB", "/" + "a" * 700, LONG + "a" * 100 + "/x", "/" + "ä" * 600]
PATTERNS = ["*", "/", "/pricing", "/pricing*", "/pricing/*", "/*pricing*", "/blog/*", "/a_b", "/a%b", "/a_*",
            "acme.test/*", "*.acme.test/pricing*", "https://www.acme.test/pricing", "https://*/blog/*",
            "http://www.acme.test/*", "/case-studies*", "www.acme.test/", "/PRICING", "*?utm*",
            LONG + "a", LONG + "/", LONG, LONG + "ab", LONG + "*", LONG + "a*", LONG + "ab*", "/a*/x", "/aa*b",
            "/" + "a" * 600, "/" + "a" * 600 + "*", LONG[:200] + "*a/*"]


def test_sql_and_python_agree_on_random_visits(services):
    rng = random.Random(18)
    with services.db.begin() as s:
        contact = make_contact(s, "many@acme.test")
        visitor = make_visitor(s, contact.id)
        for i in range(90):
            path = PATHS[i] if i < len(PATHS) else rng.choice(PATHS)  # every path at least once
            host = rng.choice(HOSTS)
            query = rng.choice(["", "", "?utm_source=x"])
            make_visit(s, visitor, path, host=host, url=f"{rng.choice(['https', 'http'])}://{host}{path}{query}")
    with services.db.begin() as s:
        rows = s.execute(select(WebVisit.id, WebVisit.url, WebVisit.path)).all()
        for pattern in PATTERNS:
            in_sql = set(s.scalars(select(WebVisit.id).where(pattern_clause(pattern))))
            in_python = {r.id for r in rows if pattern_matches(pattern, r.url, r.path)}
            assert in_sql == in_python, pattern
    assert pattern_matches("/pricing", "https://a/pricing/", "/pricing/")
    assert not pattern_matches("/pricing", "https://a/pricing/x", "/pricing/x")
    assert pattern_matches("/a_b", "https://a/a_b", "/a_b") and not pattern_matches("/a_b", "https://a/axb", "/axb")
    assert pattern_matches("acme.test/*", "https://acme.test/x", "/x")
    assert not pattern_matches("acme.test/*", "https://www.acme.test/x", "/x")
