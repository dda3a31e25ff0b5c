"""What a group value may be in an alert: ``otel``'s ValueGuard over the secrets known here.

A group value (the audit ``client``, a ``path``) is written by whoever sent the request, and
goes into ``alerts.jsonl``, the console and the OTel log record. The watcher gathers the
secrets it must keep out itself (CONTRACT section 6): ``HUB_TOKEN``, the home's token file,
each ``--token-file``, secret-judged environment values, and the hub's token fingerprint.

They are gathered lazily, when the first value that is not an IP address needs judging: a
watcher whose groups are all addresses never reads them, nor imports the secret sources and
the redaction rules (about 10 ms) or the credential scanner (about 100 ms). The
``--token-file`` files alone are read at start, so that a bad one is a usage error before
any work, not a failure hours into a run.

What is secret is decided by ``otel``; the watcher only asks, as it always has, also
whether a value sounds like a secret's name (``cookie 9f3c…``, ``api_key``), and has e-mail
addresses masked (personal data). The hub's own audit reasons (``HUB_REASONS``) sound like
one but are words the hub writes: they stay as they are, so a rule grouped by ``reason``
tells a rotated token (``invalid_token``) from a missing one.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from otel import ValueGuard
from otel._instruments import AUTH_REASONS
from sheratan_home.layout import FINGERPRINT_FILE, TOKEN_FILE
from watcher._alert import REDACTED
from watcher._rules import is_dotted_quad

if TYPE_CHECKING:
    from otel import KnownSecrets, Redactor

logger = logging.getLogger(__name__)

#: Distinct values whose verdicts the guard remembers (otel's default is 65,536). A verdict
#: costs about 100 us; replaying 1M lines from 100,000 distinct hostnames, each appearing
#: about 5 times in random order, took 16.6 s with 65,536 (58 % hits, 164,526 verdicts) and
#: 12.0 s with this (every value judged once). An entry is its value plus about 150 bytes.
VERDICT_CACHE_SIZE = 131_072

#: The audit ``reason`` values the hub itself writes (otel's ``AUTH_REASONS``, CONTRACT
#: section 2, Guards), never a client: each is its own verdict. They read like a secret's name
#: (``*_token``), so the name check would make every one ``[redacted]`` and a rule grouped by
#: ``reason`` useless, though the runbook reads ``invalid_token`` to spot a rotated token. Any
#: other value, ``token=abc123…`` included, is judged as before.
HUB_REASONS: frozenset[str] = frozenset(AUTH_REASONS)


class _GroupValueGuard(ValueGuard):
    """otel's ValueGuard, which judges an address in its canonical form without ``ipaddress``.

    Such a value is the canonical form ValueGuard would give it, and an address holds no
    secret: the verdict is the value itself, as before. A scan brings thousands of new
    addresses, each judged once (the LRU is still the one cache of verdicts), and parsing
    each with ``ipaddress`` was a tenth of a replay's time. An IPv6 address takes about 2 us
    here, 8 us there: 5% of a replay of 1M lines a third of which are a scan from 170,000
    clients, one in eight IPv6.

    The hub's own reasons (:data:`HUB_REASONS`) are their own verdict too.
    """

    def _verdict(self, value: str) -> str:
        if value in HUB_REASONS:
            return value
        if is_dotted_quad(value) is not None or (":" in value and _is_canonical_ipv6(value)):
            return value
        return super()._verdict(value)


def _is_canonical_ipv6(value: str) -> bool:
    """Whether ``value`` is an IPv6 address spelled as ``ipaddress`` writes it."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, value)
    except (OSError, ValueError):  # no IPv6 address to the C library (ValueError: a NUL)
        return False
    return ipv6_text(packed) == value


def ipv6_text(packed: bytes) -> str | None:
    """The text ``ipaddress`` gives an IPv6 address (RFC 5952: lowercase hex without leading
    zeros, the longest run of two or more zero groups as ``::``, the first of equal runs);
    None for an IPv4-mapped one, whose text depends on the Python version (since gh-87799 it
    ends in a dotted quad)."""
    groups = struct.unpack("!8H", packed)
    if groups[:6] == (0, 0, 0, 0, 0, 0xFFFF):
        return None
    start = length = run = 0
    for index, group in enumerate(groups):
        run = run + 1 if group == 0 else 0
        if run > length:
            start, length = index + 1 - run, run
    hexes = [f"{group:x}" for group in groups]
    if length < 2:
        return ":".join(hexes)
    return ":".join(hexes[:start]) + "::" + ":".join(hexes[start + length:])


def _redactor(known: KnownSecrets | None = None) -> Redactor:
    """The redactor of ``known`` (default: no secret values)."""
    if known is None:
        # The secret sources and redaction rules load on the first value that is no address.
        from otel import KnownSecrets

        known = KnownSecrets()
    # E-mail addresses are personal data: an alert names the address it saw as [redacted].
    return known.redactor(mask_emails=True)


def default_value_guard() -> ValueGuard:
    """A guard that knows no secret values: patterns, names and random-looking tokens only."""
    return _GroupValueGuard(_redactor, replacement=REDACTED, cache_size=VERDICT_CACHE_SIZE,
                            secret_names=True)


def read_token_files(paths: Sequence[Path]) -> KnownSecrets:
    """The tokens of the ``--token-file`` files.

    Raises:
        otel.SecretSourceError: a file is missing, unreadable or empty; the message names
            the option and the path, never the content.
    """
    from otel import load_known_secrets  # only when files are named: see _LazySecrets

    return load_known_secrets({}, token_files=paths)


class _LazySecrets:
    """The redactor factory: gathers the secrets on its one call, and says what it found."""

    def __init__(self, env: Mapping[str, str], home: Path, named: KnownSecrets | None,
                 unknown_said: bool) -> None:
        self._env = env
        self._home = home
        self._named = named
        self._unknown_said = unknown_said

    def __call__(self) -> Redactor:
        # Imported here, on the first value that is no IP address: a replay of addresses
        # never loads the secret sources (token files, the fingerprint, redaction rules).
        from otel import KnownSecrets, load_known_secrets

        found = load_known_secrets(self._env, home=self._home)
        named = self._named if self._named is not None else KnownSecrets()
        known = dataclasses.replace(
            found,
            values=tuple(sorted({*found.values, *named.values})),
            token_sources=(*found.token_sources, *named.token_sources),
        )
        for warning in known.warnings:
            logger.warning("%s", warning)
        if not known.token_findable and not self._unknown_said:
            logger.warning("%s", unknown_token_message(self._home))
        return _redactor(known)


def unknown_token_message(home: Path) -> str:
    """What the watcher says, once, when it cannot know the hub token."""
    return (f"the hub token is unknown here (no HUB_TOKEN, --token-file, {home / TOKEN_FILE} "
            f"or {home / FINGERPRINT_FILE}): group values are checked against credential "
            "patterns only")


def known_secrets_guard(env: Mapping[str, str], *, home: Path, token_files: Sequence[Path] = (),
                        unknown_said: bool = False) -> ValueGuard:
    """A guard that knows this watcher's secrets, gathered when first needed.

    Args:
        env: the environment, as read once by ``__main__``.
        home: the hub's ``SHERATAN_HOME``: its token file and token fingerprint.
        token_files: the ``--token-file`` paths; read now.
        unknown_said: the caller said at start that the token is unknown: the guard does not
            say it again when it gathers the secrets and finds none.

    Raises:
        otel.SecretSourceError: a ``--token-file`` cannot be used.
    """
    named = read_token_files(token_files) if token_files else None
    return _GroupValueGuard(_LazySecrets(env, home, named, unknown_said), replacement=REDACTED,
                            cache_size=VERDICT_CACHE_SIZE, secret_names=True)
