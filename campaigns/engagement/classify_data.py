"""Classification data: the known networks and user-agent rules that classify.py applies, read from data files
that operators can replace without a code change.

The files ship in campaigns/engagement/data/ (networks.toml: address ranges of mail-security gateways,
link scanners, link previews and image proxies, each with its published source; agents.toml: user-agent
rules checked before the CrawlerDetect patterns). The CLASSIFY_DATA_DIR setting names a directory whose
copies of these files are used instead (a file missing there is taken from the package); docs/tracking.md
says how to update them.

Loaded once per process (`classification_data`, cached by directory): the web processes look up each
hit's network (hit_buffer.make_entry) and the hit writer applies the agent rules to batches of thousands
of hits, so the address ranges become sorted, non-overlapping integer intervals searched with bisect (one
`bisect` per lookup however many ranges an operator adds, Apple's relay list of hundreds of thousands of
subnets included). A broken operator file does not stop tracking: it is logged, the packaged data is
used, and the start-up checks (campaigns/health.py) report it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import tomllib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGED_DIR = Path(__file__).resolve().parent / "data"
NETWORKS_FILE = "networks.toml"
AGENTS_FILE = "agents.toml"

NETWORK_ROLES = ("scanner", "fetcher", "image_proxy", "privacy_proxy")
AGENT_VERDICTS = ("scanner", "bot", "client", "image_proxy", "bare_proxy")

_NAME = re.compile(r"[a-z0-9_]{1,20}\Z")  # a network name is stored with each hit (tracking_hits.network, 20)
_REASON_MAX = 40  # tracking_hits.reason


class ClassificationDataError(ValueError):
    """A data file that cannot be used, with the file and the entry at fault in the message."""


@dataclass(frozen=True)
class Network:
    """One known network: what its hits are (role) and the reason stored with the hits it decides."""

    name: str
    role: str
    reason: str
    source: str


@dataclass(frozen=True)
class AgentRule:
    """One user-agent rule: a pattern and what an agent that contains it is."""

    name: str
    verdict: str
    pattern: re.Pattern[str]
    reason: str
    source: str


class _RangeTable:
    """The ranges of one IP version as sorted, disjoint integer intervals [start, end] -> network name."""

    def __init__(self, ranges: list[tuple[int, int, str]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.names: list[str] = []
        # CIDR ranges are nested or disjoint: a sweep with a stack of the ranges that contain the current
        # position cuts them into disjoint pieces, the most specific range owning each piece.
        ranges.sort(key=lambda r: (r[0], -r[1]))
        stack: list[tuple[int, str]] = []
        position = 0
        for start, end, name in ranges:
            while stack and stack[-1][0] < start:
                top_end, top_name = stack.pop()
                self._add(position, top_end, top_name)
                position = top_end + 1
            if stack:
                self._add(position, start - 1, stack[-1][1])
            stack.append((end, name))
            position = start
        while stack:
            top_end, top_name = stack.pop()
            self._add(position, top_end, top_name)
            position = top_end + 1

    def _add(self, start: int, end: int, name: str) -> None:
        if start > end:
            return
        if self.names and self.names[-1] == name and self.ends[-1] + 1 == start:
            self.ends[-1] = end
            return
        self.starts.append(start)
        self.ends.append(end)
        self.names.append(name)

    def find(self, number: int) -> str:
        i = bisect_right(self.starts, number) - 1
        return self.names[i] if i >= 0 and number <= self.ends[i] else ""

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per loaded directory
class ClassificationData:
    """The networks and agent rules in force in this process, with the files they came from."""

    networks: dict[str, Network]
    agents: tuple[AgentRule, ...]
    v4: _RangeTable
    v6: _RangeTable
    files: tuple[str, ...]

    def network_of(self, ip: str) -> str:
        """The name of the known network `ip` belongs to, or ''."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return ""
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.ipv4_mapped is not None:  # ::ffff:203.0.113.5 from a dual-stack listener
                return self.v4.find(int(addr.ipv4_mapped))
            return self.v6.find(int(addr))
        return self.v4.find(int(addr))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ClassificationDataError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClassificationDataError(f"{path}: not valid TOML ({exc})") from None


def _text(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ClassificationDataError(f"{where}: '{key}' must be a non-empty string")
    return value


def _ranges_from_file(path: Path, where: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """One range per line, or a CSV whose first column is the range (Apple's egress-ip-ranges.csv)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ClassificationDataError(f"{where}: ranges file {path} cannot be read ({exc.strerror})") from None
    networks = []
    for number, line in enumerate(lines, start=1):
        field = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not field:
            continue
        try:
            networks.append(ipaddress.ip_network(field, strict=False))
        except ValueError:
            raise ClassificationDataError(f"{path}, line {number}: {field!r} is not an address range") from None
    return networks


def _load_networks(path: Path) -> tuple[dict[str, Network], _RangeTable, _RangeTable]:
    doc = _read_toml(path)
    tables = doc.get("networks")
    if not isinstance(tables, dict) or not tables:
        raise ClassificationDataError(f"{path}: no [networks.<name>] tables")
    networks: dict[str, Network] = {}
    v4: list[tuple[int, int, str]] = []
    v6: list[tuple[int, int, str]] = []
    owner: dict[tuple[int, int, int], str] = {}
    for name, entry in tables.items():
        where = f"{path}: networks.{name}"
        if not _NAME.match(name):
            raise ClassificationDataError(f"{where}: a name is 1-20 lower-case letters, digits or _")
        if not isinstance(entry, dict):
            raise ClassificationDataError(f"{where}: must be a table")
        role = _text(entry, "role", where)
        if role not in NETWORK_ROLES:
            raise ClassificationDataError(f"{where}: role {role!r} is not one of {', '.join(NETWORK_ROLES)}")
        reason = _text(entry, "reason", where, f"{name}_network")
        if len(reason) > _REASON_MAX:
            raise ClassificationDataError(f"{where}: reason is longer than {_REASON_MAX} characters")
        networks[name] = Network(name, role, reason, _text(entry, "source", where))
        listed = entry.get("ranges", [])
        files = entry.get("ranges_files", [])
        if not isinstance(listed, list) or not isinstance(files, list) or not (listed or files):
            raise ClassificationDataError(f"{where}: 'ranges' (and 'ranges_files') must be lists, not both empty")
        parsed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in listed:
            try:
                parsed.append(ipaddress.ip_network(str(item)))
            except ValueError as exc:
                raise ClassificationDataError(f"{where}: {item!r} is not an address range ({exc})") from None
        for file in files:
            parsed.extend(_ranges_from_file(path.parent / str(file), where))
        for net in parsed:
            key = (net.version, int(net.network_address), net.prefixlen)
            if owner.setdefault(key, name) != name:
                raise ClassificationDataError(f"{where}: {net} is also listed under {owner[key]}")
            (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.broadcast_address), name))
    return networks, _RangeTable(v4), _RangeTable(v6)


def _load_agents(path: Path) -> tuple[AgentRule, ...]:
    doc = _read_toml(path)
    entries = doc.get("agents")
    if not isinstance(entries, list) or not entries:
        raise ClassificationDataError(f"{path}: no [[agents]] rules")
    rules = []
    for position, entry in enumerate(entries, start=1):
        where = f"{path}: agents rule {position}"
        if not isinstance(entry, dict):
            raise ClassificationDataError(f"{where}: must be a table")
        name = _text(entry, "name", where)
        where = f"{path}: agents rule {position} ({name})"
        if not re.fullmatch(r"[a-z0-9_]+", name):
            raise ClassificationDataError(f"{where}: a name is lower-case letters, digits or _")
        verdict = _text(entry, "verdict", where)
        if verdict not in AGENT_VERDICTS:
            raise ClassificationDataError(f"{where}: verdict {verdict!r} is not one of {', '.join(AGENT_VERDICTS)}")
        default_reason = {"scanner": f"{name}_user_agent", "bot": "bot_user_agent"}.get(verdict, "")
        reason = _text(entry, "reason", where, default_reason)
        if len(reason) > _REASON_MAX:
            raise ClassificationDataError(f"{where}: reason is longer than {_REASON_MAX} characters")
        try:
            pattern = re.compile(_text(entry, "pattern", where), re.IGNORECASE)
        except re.error as exc:
            raise ClassificationDataError(f"{where}: pattern is not a valid regular expression ({exc})") from None
        rules.append(AgentRule(name, verdict, pattern, reason, _text(entry, "source", where)))
    return tuple(rules)


def load_data(data_dir: str | Path = "") -> ClassificationData:
    """Read the data files (an operator's copies from `data_dir`, the packaged ones otherwise); raises
    ClassificationDataError naming the file and entry at fault. Called by classification_data and tests."""
    chosen = []
    for name in (NETWORKS_FILE, AGENTS_FILE):
        path = PACKAGED_DIR / name
        if data_dir:
            directory = Path(data_dir)
            if not directory.is_dir():
                raise ClassificationDataError(f"CLASSIFY_DATA_DIR {directory} is not a directory")
            if (directory / name).exists():
                path = directory / name
        chosen.append(path)
    networks, v4, v6 = _load_networks(chosen[0])
    return ClassificationData(networks, _load_agents(chosen[1]), v4, v6, tuple(str(p) for p in chosen))


def classification_data(data_dir: str = "") -> ClassificationData:
    """The data in force for CLASSIFY_DATA_DIR `data_dir` ('' = packaged), loaded once per process; an
    unusable operator file is logged and the packaged data used. Called by hit_buffer and hit_writer."""
    return _cached(data_dir)


@lru_cache(maxsize=8)
def _cached(data_dir: str) -> ClassificationData:
    try:
        data = load_data(data_dir)
    except ClassificationDataError as exc:
        if not data_dir:
            raise  # the packaged files are tested; failing here is a broken install
        log.error("classification data: %s; using the packaged data instead", exc)
        return _cached("")
    log.info("classification data: %s (%d IPv4 and %d IPv6 ranges, %d agent rules)",
             ", ".join(data.files), len(data.v4), len(data.v6), len(data.agents))
    return data


def data_problems(data_dir: str) -> list[str]:
    """Why the operator's data files cannot be used (empty when they can); the start-up checks call this."""
    if not data_dir:
        return []
    try:
        load_data(data_dir)
    except ClassificationDataError as exc:
        return [f"classification data: {exc}; the packaged data is used until it is fixed"]
    return []
