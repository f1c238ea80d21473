"""Classification data files: the packaged ones load and name their sources, an operator's copy in
CLASSIFY_DATA_DIR changes the classification without a code change, and a broken copy is reported and
does not stop tracking."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.config import Settings
from campaigns.db import now_utc
from campaigns.engagement.classify import classify_hit, network_of
from campaigns.engagement.classify_data import (
    AGENTS_FILE,
    NETWORKS_FILE,
    PACKAGED_DIR,
    ClassificationDataError,
    classification_data,
    load_data,
)
from campaigns.engagement.hit_buffer import make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.health import settings_warnings
from campaigns.models import Contact
from campaigns.models.tracking import Hit, HitClass, HitKind
from tests.tracking_helpers import drain, make_broadcast, make_send

OPEN, CLICK = HitKind.OPEN, HitKind.CLICK
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
          "Safari/537.36")
OPERATOR_GATEWAY_IP = "198.51.100.23"  # a person's address in the corpus, until the operator lists the range

OPERATOR_NETWORKS = """
[networks.acme_gateway]
role = "scanner"
source = "our own mail gateway's sandbox (ticket OPS-42)"
ranges = ["198.51.100.0/24"]
"""


def operator_dir(tmp_path: Path) -> Path:
    """An operator's data directory: the packaged networks plus one range of their own."""
    directory = tmp_path / "classification"
    directory.mkdir()
    networks = (PACKAGED_DIR / NETWORKS_FILE).read_text(encoding="utf-8") + OPERATOR_NETWORKS
    (directory / NETWORKS_FILE).write_text(networks, encoding="utf-8")
    return directory


def test_the_packaged_data_loads_and_every_entry_names_its_source():
    data = load_data()
    assert len(data.v4) > 50 and len(data.v6) > 5 and len(data.agents) >= 10
    assert {"microsoft", "microsoft_outlook", "proofpoint", "mimecast", "barracuda", "apple", "google_proxy"} <= set(
        data.networks)
    for network in data.networks.values():
        assert "http" in network.source or "ARIN" in network.source, network.name
    for rule in data.agents:
        assert rule.source.strip(), rule.name


def test_an_operator_range_changes_the_classification_without_a_code_change(tmp_path):
    packaged = classification_data()
    assert classify_hit(CLICK, CHROME, network_of(OPERATOR_GATEWAY_IP, packaged), 3600, packaged).classification \
        == HitClass.HUMAN

    data = classification_data(str(operator_dir(tmp_path)))
    assert network_of(OPERATOR_GATEWAY_IP, data) == "acme_gateway"
    verdict = classify_hit(CLICK, CHROME, network_of(OPERATOR_GATEWAY_IP, data), 3600, data)
    assert (verdict.classification, verdict.reason) == (HitClass.SCANNER, "acme_gateway_network")
    # the packaged networks are still there (the copy started from them), and the default is unchanged
    assert network_of("40.107.222.12", data) == "microsoft"
    assert network_of(OPERATOR_GATEWAY_IP) == ""


def test_an_operator_agent_rule_changes_the_classification(tmp_path):
    directory = tmp_path / "agents-only"
    directory.mkdir()
    rules = (PACKAGED_DIR / AGENTS_FILE).read_text(encoding="utf-8") + (
        '\n[[agents]]\nname = "acme_link_guard"\nverdict = "scanner"\npattern = "AcmeLinkGuard/"\n'
        'source = "our gateway\'s link checker"\n'
    )
    (directory / AGENTS_FILE).write_text(rules, encoding="utf-8")
    data = classification_data(str(directory))
    agent = f"{CHROME} AcmeLinkGuard/2.0"
    assert classify_hit(CLICK, agent, "", 3600).classification == HitClass.HUMAN
    verdict = classify_hit(CLICK, agent, "", 3600, data)
    assert (verdict.classification, verdict.reason) == (HitClass.SCANNER, "acme_link_guard_user_agent")
    assert data.files == (str(PACKAGED_DIR / NETWORKS_FILE), str(directory / AGENTS_FILE))


def test_where_ranges_nest_the_most_specific_decides(tmp_path):
    (tmp_path / NETWORKS_FILE).write_text("""
[networks.wide]
role = "scanner"
source = "test"
ranges = ["10.0.0.0/8", "2001:db8::/32"]

[networks.narrow]
role = "privacy_proxy"
source = "test"
ranges = ["10.1.2.0/24", "10.1.2.128/25", "2001:db8:1::/48"]

[networks.narrowest]
role = "fetcher"
source = "test"
ranges = ["10.1.2.130/32"]
""", encoding="utf-8")
    data = load_data(tmp_path)
    assert [data.network_of(ip) for ip in ("10.0.0.1", "10.1.2.5", "10.1.2.129", "10.1.2.130", "10.1.2.131",
                                           "10.1.3.0", "10.255.255.255", "11.0.0.0", "9.255.255.255")] \
        == ["wide", "narrow", "narrow", "narrowest", "narrow", "wide", "wide", "", ""]
    assert [data.network_of(ip) for ip in ("2001:db8::1", "2001:db8:1::9", "2001:db8:2::", "::ffff:10.1.2.130",
                                           "not-an-ip", "")] == ["wide", "narrow", "wide", "narrowest", "", ""]


def test_a_ranges_file_in_apple_s_csv_format_is_read(tmp_path):
    (tmp_path / "egress-ip-ranges.csv").write_text(
        "172.224.226.0/27,GB,GB-EN,London,\n2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,\n", encoding="utf-8")
    (tmp_path / NETWORKS_FILE).write_text("""
[networks.apple_relay]
role = "privacy_proxy"
reason = "apple_mpp"
source = "https://mask-api.icloud.com/egress-ip-ranges.csv"
ranges_files = ["egress-ip-ranges.csv"]
""", encoding="utf-8")
    data = load_data(tmp_path)
    assert data.network_of("172.224.226.7") == data.network_of("2a02:26f7:b3c0:4000::1") == "apple_relay"
    verdict = classify_hit(OPEN, "Mozilla/5.0", "apple_relay", 60, data)
    assert (verdict.classification, verdict.reason) == (HitClass.MACHINE_OPEN, "apple_mpp")


@pytest.mark.parametrize("content,message", [
    ("[networks.x\n", "not valid TOML"),
    ('[networks.Bad-Name]\nrole = "scanner"\nsource = "s"\nranges = ["10.0.0.0/8"]\n', "lower-case"),
    ('[networks.x]\nrole = "spam"\nsource = "s"\nranges = ["10.0.0.0/8"]\n', "role 'spam'"),
    ('[networks.x]\nrole = "scanner"\nranges = ["10.0.0.0/8"]\n', "'source'"),
    ('[networks.x]\nrole = "scanner"\nsource = "s"\nranges = ["10.0.0.1/8"]\n', "'10.0.0.1/8' is not an address range"),
    ('[networks.x]\nrole = "scanner"\nsource = "s"\nranges = []\n', "not both empty"),
    ('[networks.x]\nrole = "scanner"\nsource = "s"\nranges = ["10.0.0.0/8"]\n'
     '[networks.y]\nrole = "fetcher"\nsource = "s"\nranges = ["10.0.0.0/8"]\n', "also listed under x"),
])
def test_a_broken_networks_file_is_refused_with_the_entry_at_fault(tmp_path, content, message):
    (tmp_path / NETWORKS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ClassificationDataError, match=message) as error:
        load_data(tmp_path)
    assert str(tmp_path / NETWORKS_FILE) in str(error.value)


@pytest.mark.parametrize("content,message", [
    ('[[agents]]\nname = "x"\nverdict = "bot"\npattern = "(unclosed"\nsource = "s"\n', "not a valid regular expression"),
    ('[[agents]]\nname = "x"\nverdict = "maybe"\npattern = "x"\nsource = "s"\n', "verdict 'maybe'"),
    (f'[[agents]]\nname = "x"\nverdict = "bot"\npattern = "x"\nsource = "s"\nreason = "{"r" * 41}"\n', "longer than 40"),
])
def test_a_broken_agents_file_is_refused_with_the_rule_at_fault(tmp_path, content, message):
    (tmp_path / AGENTS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ClassificationDataError, match=message):
        load_data(tmp_path)


def test_a_broken_operator_copy_falls_back_to_the_packaged_data_and_is_reported(tmp_path):
    (tmp_path / NETWORKS_FILE).write_text('[networks.x]\nrole = "scanner"\n', encoding="utf-8")
    assert classification_data(str(tmp_path)) is classification_data()  # tracking goes on with the shipped data
    warnings = settings_warnings(Settings(classify_data_dir=str(tmp_path), testing=True))
    assert any("classification data" in w and NETWORKS_FILE in w for w in warnings)
    missing = settings_warnings(Settings(classify_data_dir=str(tmp_path / "nowhere"), testing=True))
    assert any("is not a directory" in w for w in missing)
    assert not any("classification" in w for w in settings_warnings(Settings(testing=True)))


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_overrides, "classify_data_dir": str(operator_dir(tmp_path))}


def test_the_setting_reaches_the_endpoints_and_the_writer(services, app):
    """CLASSIFY_DATA_DIR: the endpoint finds the operator's network, the writer stores the hit as a scanner's."""
    with services.db.begin() as s:
        campaign = make_broadcast(s, honeypot=False)
        reader = Contact(email="reader@example.jp")
        s.add(reader)
        s.flush()
        send_id = make_send(s, campaign, reader, sent_at=now_utc() - timedelta(hours=2)).id
    entry = make_entry(services, CLICK, send_id, campaign.link_ids[0], CHROME, OPERATOR_GATEWAY_IP)
    assert entry["n"] == "acme_gateway" and entry["ip"] == "198.51.100.0"  # found before truncation
    services.redis.xadd(STREAM, entry)
    drain(app)
    with services.db.factory() as s:
        stored = s.execute(select(Hit.network, Hit.classification, Hit.reason)).one()
    assert tuple(stored) == ("acme_gateway", HitClass.SCANNER, "acme_gateway_network")


def test_the_packaged_data_is_a_copy_operators_can_start_from(tmp_path):
    shutil.copy(PACKAGED_DIR / NETWORKS_FILE, tmp_path / NETWORKS_FILE)
    shutil.copy(PACKAGED_DIR / AGENTS_FILE, tmp_path / AGENTS_FILE)
    copied, packaged = load_data(tmp_path), load_data()
    assert copied.networks == packaged.networks
    assert [(r.name, r.pattern.pattern) for r in copied.agents] == [(r.name, r.pattern.pattern) for r in packaged.agents]
