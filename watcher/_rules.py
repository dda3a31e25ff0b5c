"""Alert rules: the file format of CONTRACT section 4, validated once into frozen objects."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import os
import pkgutil
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from otel import read_small_regular
from sheratan_home import HomeLayout
from watcher._json import DECODE_ERRORS

#: Audit fields a rule may group by. Anything else could carry data we never want in an alert.
GROUPABLE_FIELDS = frozenset(
    {"client", "plane", "port", "method", "path", "reason", "expected_port"}
)
SEVERITIES = ("info", "warning", "error", "critical")
#: The packaged defaults, beside this module.
DEFAULT_RULES_FILE = "default_rules.json"
#: The largest rules file read (the packaged one is 400 bytes; a thousand rules fit).
MAX_RULES_FILE_BYTES = 1 << 20
DEFAULT_REPEAT_AFTER_S = 300.0
#: Bounds on a rule's timings. Below a second a window cannot hold the hub's bursts and a
#: repeat would flood; above the maxima the window state and alert ids outlive any use.
MIN_WINDOW_S = 1.0
MAX_WINDOW_S = 7 * 24 * 3600.0
MIN_REPEAT_AFTER_S = 1.0
MAX_REPEAT_AFTER_S = 30 * 24 * 3600.0
MAX_THRESHOLD = 10**9
_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_RULE_KEYS = frozenset(
    {"name", "event", "threshold", "window_s", "severity", "group_by", "repeat_after_s",
     "ignore_clients"}
)
_TOP_KEYS = frozenset({"ignore_clients", "rules"})

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Distinct clients spelled with a colon or brackets (IPv6, IPv4-mapped) whose ignore verdicts
#: a filter remembers: parsing one costs about 2 us (a possible match, through ipaddress,
#: about 8 us), an LRU hit about 0.1 us. Every other client is decided without a cache, in a
#: set lookup and a few comparisons. Measured per 1M lines: an LRU of every verdict saved
#: 0.02 s of 1.1 s on today's mix and cost 0.12 s on a scan from 170,000 clients (mostly
#: misses); without this one, a log whose clients are all IPv4-mapped took a third longer.
IGNORE_CACHE_SIZE = 4096


class RulesError(ValueError):
    """A rules file is invalid. ``field`` names the offending field, e.g. ``rules[1].window_s``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ClientFilter:
    """Matches a client address against IPs and CIDRs (IPv4-mapped IPv6 included).

    The common cases need no ``ipaddress`` and no cache: a client spelled as one of the
    ignored hosts is in; a client without ``:`` or brackets can only be an IPv4 dotted quad
    (or no address), and a dotted quad has one spelling, so it is out unless an IPv4 network
    is wider than a host, when its octets are compared as an integer. Other spellings (IPv6,
    brackets, IPv4-mapped) are parsed, which costs microseconds, so their verdicts are kept
    in a bounded LRU (``IGNORE_CACHE_SIZE``). Thread-safe: the networks never change, and the
    LRU is ``functools.lru_cache``.
    """

    __slots__ = ("_hosts", "_networks", "_parsed", "_v4", "_v4_wide", "_v6")

    def __init__(self, networks: Sequence[IpNetwork]) -> None:
        self._networks = tuple(networks)
        self._hosts = frozenset(str(net.network_address) for net in self._networks
                                if net.num_addresses == 1)
        self._v4 = _ranges(net for net in self._networks if net.version == 4)
        self._v6 = _ranges(net for net in self._networks if net.version == 6)
        #: Only then can a dotted quad that is no ignored host's spelling be ignored.
        self._v4_wide = any(net.version == 4 and net.num_addresses > 1
                            for net in self._networks)
        #: The verdicts of the spellings that need parsing.
        self._parsed = functools.lru_cache(maxsize=IGNORE_CACHE_SIZE)(self._matches_parsed)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def matches(self, client: object) -> bool:
        """True if ``client`` is an IP inside one of the networks.

        Called for every line of a rule that ignores clients, so the common answers come
        first: a string from JSON is exactly a ``str``, and most are no ignored host.
        """
        if type(client) is not str:
            return False
        if client in self._hosts:
            return True
        if ":" in client or "[" in client or "]" in client:
            return len(client) <= 64 and self._parsed(client)
        return self._v4_wide and self._in_v4_network(client)

    def _in_v4_network(self, client: str) -> bool:
        """A dotted quad inside an IPv4 network wider than one host."""
        if _IPV4.fullmatch(client) is None:
            return False
        a, b, c, d = client.split(".")
        return _within((int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d), self._v4)

    def _matches_parsed(self, client: str) -> bool:
        text = client.strip("[]")
        quick = _ipv6_value(text)
        if quick is not None and not self._within_v6(quick):
            # Whatever parses as IPv6 in C has the same value in ipaddress, or is no address
            # there: out either way. Only a possible match, or what C cannot parse (a zone
            # index, an IPv4 address in brackets), takes ipaddress.
            return False
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv4Address):
            return _within(int(address), self._v4)
        return self._within_v6(int(address))

    def _within_v6(self, value: int) -> bool:
        """An IPv6 address in an IPv6 network, or IPv4-mapped into an IPv4 one."""
        mapped = value & 0xFFFF_FFFF if value >> 32 == 0xFFFF else None
        return _within(value, self._v6) or (mapped is not None and _within(mapped, self._v4))


#: An IPv4 address as ``ipaddress`` reads it: four decimal octets up to 255, no leading zero.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)
#: Whether a string is an IPv4 address in the one spelling ``ipaddress`` reads and writes.
is_dotted_quad = _IPV4.fullmatch


def _ipv6_value(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):  # not IPv6 to the C library (ValueError: a NUL in it)
        return None


def _ranges(networks: Iterable[IpNetwork]) -> tuple[tuple[int, int], ...]:
    return tuple((int(net.network_address), int(net.broadcast_address)) for net in networks)


def _within(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    # A loop, not any() over a generator, which costs 0.3 us more per call.
    for first, last in ranges:  # noqa: SIM110
        if first <= value <= last:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule. Windows are in seconds here and in microseconds in the engine."""

    name: str
    event: str
    threshold: int
    window_s: float
    severity: str
    group_by: tuple[str, ...] = ()
    repeat_after_s: float = DEFAULT_REPEAT_AFTER_S
    ignore_clients: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """A fingerprint of the rule's semantics, so a checkpoint never restores a changed rule."""
        raw = msgspec.json.encode(
            [self.name, self.event, self.threshold, self.window_s, self.group_by,
             self.repeat_after_s, self.ignore_clients]
        )
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The global ``ignore_clients`` plus the rules, in file order."""

    rules: tuple[Rule, ...]
    ignore_clients: tuple[str, ...] = ()

    def client_filter(self, rule: Rule) -> ClientFilter:
        """Builds the filter for ``rule``: the global list plus the rule's own (a union)."""
        specs = self.ignore_clients + rule.ignore_clients
        return ClientFilter([ipaddress.ip_network(spec, strict=False) for spec in specs])


def _number(value: object, field: str) -> float:
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)  # an integer of 309 digits or more overflows
        except OverflowError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise RulesError(field, f"must be a number, got {value!r:.40}")


def _seconds(value: object, field: str, low: float, high: float) -> float:
    seconds = _number(value, field)
    if not low <= seconds <= high:
        raise RulesError(field, f"must be between {low:.0f} and {high:.0f} seconds, got {value!r}")
    return seconds


def _ip_list(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise RulesError(field, "must be a list of IP addresses or CIDRs")
    specs: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RulesError(f"{field}[{index}]", f"must be a string, got {item!r}")
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise RulesError(f"{field}[{index}]", f"not an IP address or CIDR: {item!r}") from None
        specs.append(item)
    return tuple(specs)


def _check_keys(raw: dict[str, object], field: str) -> None:
    for key in raw:
        if key not in _RULE_KEYS:
            raise RulesError(f"{field}.{key}", "unknown field")
    for key in ("name", "event", "threshold", "window_s", "severity"):
        if key not in raw:
            raise RulesError(f"{field}.{key}", "is required")


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise RulesError(field, f"must be 1-64 characters of [A-Za-z0-9_.:-], got {value!r}")
    return value


def _event(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise RulesError(field, f"must be a non-empty event name, got {value!r}")
    return value


def _threshold(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_THRESHOLD:
        # A JSON number with a fraction or an exponent (1e20) arrives as a float.
        raise RulesError(field, f"must be an integer between 0 and {MAX_THRESHOLD}, got {value!r}")
    return value


def _severity(value: object, field: str) -> str:
    if value not in SEVERITIES:
        raise RulesError(field, f"must be one of {', '.join(SEVERITIES)}")
    return str(value)


def _group_by(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise RulesError(field, "must be a list of field names")
    for index, item in enumerate(value):
        if item not in GROUPABLE_FIELDS:
            allowed = ", ".join(sorted(GROUPABLE_FIELDS))
            raise RulesError(f"{field}[{index}]", f"must be one of {allowed}, got {item!r}")
    if len(set(value)) != len(value):
        raise RulesError(field, "has duplicate fields")
    return tuple(value)


def _parse_rule(raw: object, field: str) -> Rule:
    if not isinstance(raw, dict):
        raise RulesError(field, "must be an object")
    _check_keys(raw, field)
    # Checked in this order, so the first bad field named is the one it always was.
    return Rule(
        name=_name(raw["name"], f"{field}.name"),
        event=_event(raw["event"], f"{field}.event"),
        threshold=_threshold(raw["threshold"], f"{field}.threshold"),
        window_s=_seconds(raw["window_s"], f"{field}.window_s", MIN_WINDOW_S, MAX_WINDOW_S),
        severity=_severity(raw["severity"], f"{field}.severity"),
        group_by=_group_by(raw.get("group_by", []), f"{field}.group_by"),
        repeat_after_s=_seconds(raw.get("repeat_after_s", DEFAULT_REPEAT_AFTER_S),
                                f"{field}.repeat_after_s", MIN_REPEAT_AFTER_S,
                                MAX_REPEAT_AFTER_S),
        ignore_clients=_ip_list(raw.get("ignore_clients", []), f"{field}.ignore_clients"),
    )


def parse_rules(data: object) -> RuleSet:
    """Validates decoded rules JSON.

    Args:
        data: the decoded document.

    Raises:
        RulesError: naming the first invalid field.
    """
    if not isinstance(data, Mapping):
        raise RulesError("(document)", "must be a JSON object with a 'rules' list")
    for key in data:
        if key not in _TOP_KEYS:
            raise RulesError(str(key), "unknown field")
    if "rules" not in data:
        raise RulesError("rules", "is required")
    rules_raw = data["rules"]
    if not isinstance(rules_raw, list):
        raise RulesError("rules", "must be a list")
    rules = tuple(_parse_rule(raw, f"rules[{i}]") for i, raw in enumerate(rules_raw))
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            raise RulesError(f"rules[{index}].name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
    ignore = _ip_list(data.get("ignore_clients", []), "ignore_clients")
    return RuleSet(rules=rules, ignore_clients=ignore)


def load_rules(path: Path) -> RuleSet:
    """Reads and validates a rules file: a regular file (a FIFO is not waited on, a device
    not read) of at most ``MAX_RULES_FILE_BYTES``.

    Raises:
        RulesError: the file is unreadable, no regular file, too large, not JSON, or invalid
            (the field is named).
    """
    try:
        raw = read_small_regular(path, MAX_RULES_FILE_BYTES)
    except OSError as exc:
        raise RulesError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        data = msgspec.json.decode(raw)
    except DECODE_ERRORS as exc:
        raise RulesError(str(path), f"not valid JSON: {exc}") from None
    return parse_rules(data)


def active_rules_path(option: Path | None, home: Path) -> Path | None:
    """The rules file a watcher on ``home`` uses: ``option`` (``--rules``), else the home's
    ``configs/alert_rules.json`` when there is anything by that name (a folder or FIFO there
    is then refused as a rules file, not passed over); None: the packaged defaults."""
    if option is not None:
        return option
    in_home = HomeLayout(home).alert_rules
    return in_home if os.path.lexists(in_home) else None


def default_rules() -> RuleSet:
    """The packaged defaults: exactly the two rules of CONTRACT section 4.

    Raises:
        RulesError: the package's loader cannot read files (none that installs it does).
    """
    # pkgutil asks the package's loader, as importlib.resources does, without the 10 ms
    # that importing importlib.resources adds to every start of the watcher.
    raw = pkgutil.get_data("watcher", DEFAULT_RULES_FILE)
    if raw is None:
        raise RulesError(DEFAULT_RULES_FILE, "the packaged defaults cannot be read")
    return parse_rules(msgspec.json.decode(raw))
