"""Credential detection on strings, with Yelp's detect-secrets plugins.

detect-secrets is the field's scanner for credentials in text: private keys, cloud, chat,
payment and registry tokens, JWTs, basic-auth URLs, and high-entropy strings. Its plugins are
used here on strings, never through its file, baseline or git machinery, and never with
verification (which would send a found secret to its service).

Two uses, with different false-positive budgets:

* :meth:`CredentialScanner.findings` runs the *pattern* plugins on free text (a log tail, a
  node's ``meta``). Their formats are distinctive, so a hit is a credential.
* :meth:`CredentialScanner.is_credential` judges one whole *value* (an environment variable,
  an alert's group value), where the entropy plugins also apply: a value made of nothing but
  a random-looking run is a credential. On free text they would flag every hash and id.

Importing detect-secrets costs about 100 ms (it pulls in ``requests``), so the plugins load
on first use: a watcher whose groups are all IP addresses never pays for them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final

__all__ = ["CredentialScanner", "fragment_len", "keyword_denylist", "token_runs"]

#: Plugins whose regex captures a prefix, not the secret.
_CAPTURES_PREFIX: Final = frozenset({"GitHubTokenDetector"})
#: The characters of RFC 6750's b64token, which bearer tokens, API keys and most
#: generated secrets are made of.
_TOKEN_RUN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MIN_CREDENTIAL_LEN: Final = 16
#: detect-secrets' own limits for its two entropy plugins.
_BASE64_LIMIT: Final = 4.5
_HEX_LIMIT: Final = 3.0
#: A value of three or more character classes (lower, upper, digit) with this much entropy
#: per character is a generated secret even when it is too short for the base64 limit: 16
#: random characters carry at most 4 bits each.
_MIXED_LIMIT: Final = 3.0
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

# The pattern plugins, by module and class; IP addresses (ip_public) are not secrets here.
_PATTERN_PLUGINS: Final = (
    ("artifactory", "ArtifactoryDetector"),
    ("aws", "AWSKeyDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"),
    ("basic_auth", "BasicAuthDetector"),
    ("cloudant", "CloudantDetector"),
    ("discord", "DiscordBotTokenDetector"),
    ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"),
    ("ibm_cloud_iam", "IbmCloudIamDetector"),
    ("ibm_cos_hmac", "IbmCosHmacDetector"),
    ("jwt", "JwtTokenDetector"),
    ("mailchimp", "MailchimpDetector"),
    ("npm", "NpmDetector"),
    ("openai", "OpenAIDetector"),
    ("private_key", "PrivateKeyDetector"),
    ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"),
    ("slack", "SlackDetector"),
    ("softlayer", "SoftlayerDetector"),
    ("square_oauth", "SquareOAuthDetector"),
    ("stripe", "StripeDetector"),
    ("telegram_token", "TelegramBotTokenDetector"),
    ("twilio", "TwilioKeyDetector"),
)


class _Plugins:
    """detect-secrets' plugin instances, built once per process on first use."""

    def __init__(self) -> None:
        import importlib

        from detect_secrets.plugins.high_entropy_strings import (
            Base64HighEntropyString,
            HexHighEntropyString,
        )

        self.patterns: tuple[Any, ...] = tuple(
            getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)()
            for module, name in _PATTERN_PLUGINS
        )
        self.base64 = Base64HighEntropyString(limit=_BASE64_LIMIT)
        self.hex = HexHighEntropyString(limit=_HEX_LIMIT)
        # One search over every plugin's regexes tells most strings apart from a hit at
        # the cost of one call instead of 45; the plugins' own regexes run only on a hit.
        self.any_pattern = re.compile("|".join(
            f"(?{'i' if pattern.flags & re.IGNORECASE else ''}:{pattern.pattern})"
            for plugin in self.patterns for pattern in plugin.denylist))


_plugins: _Plugins | None = None
_plugins_lock = threading.Lock()


def _loaded() -> _Plugins:
    global _plugins
    with _plugins_lock:
        if _plugins is None:
            _plugins = _Plugins()
        return _plugins


def keyword_denylist() -> Sequence[str]:
    """detect-secrets' keyword denylist: the words that make a name sound secret."""
    from detect_secrets.plugins.keyword import DENYLIST

    return tuple(DENYLIST)


class CredentialScanner:
    """detect-secrets' plugins on strings.

    Thread-safety: the plugins are used only through ``analyze_string`` and the entropy
    functions, which keep no state; one scanner may be shared by threads.
    """

    __slots__ = ()

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where the pattern plugins find a credential in ``text``.

        Each plugin's own regexes locate it: the span of the captured secret where the
        regex captures one (a basic-auth URL's password, an assignment's value), else the
        whole match. GitHub's regex captures only the ``ghp`` prefix, so its whole match is
        the token. A plugin's validity check, where it has one (JWT), filters the matches
        as the plugin itself would.
        """
        plugins = _loaded()
        if plugins.any_pattern.search(text) is None:
            return
        for plugin in plugins.patterns:
            valid = getattr(plugin, "is_formally_valid", None)
            whole = type(plugin).__name__ in _CAPTURES_PREFIX
            for pattern in plugin.denylist:
                for match in pattern.finditer(text):
                    if valid is None or valid(match.group()):
                        yield match.span() if whole else _secret_span(match)

    def is_credential(self, value: str) -> bool:
        """True when ``value`` as a whole is, or holds, a credential.

        A pattern plugin's hit anywhere in it counts; so does a value that is one run of the
        token alphabet, at least 16 characters long, and random-looking: hex above
        detect-secrets' hex limit, anything above its base64 limit, or three character
        classes at 3 bits of entropy per character or more.
        """
        if any(True for _ in self.spans(value)):
            return True
        return self.is_random_token(value.strip())

    def is_random_token(self, value: str) -> bool:
        """True for a single random-looking run of the token alphabet of 16+ characters."""
        if len(value) < _MIN_CREDENTIAL_LEN or not _TOKEN_RUN.fullmatch(value):
            return False
        plugins = _loaded()
        if _HEX_DIGITS.issuperset(value):
            return bool(plugins.hex.calculate_shannon_entropy(value) > _HEX_LIMIT)
        entropy = float(plugins.base64.calculate_shannon_entropy(value))
        return entropy > _BASE64_LIMIT or (_classes(value) >= 3 and entropy >= _MIXED_LIMIT)


def _secret_span(match: re.Match[str]) -> tuple[int, int]:
    groups = [i for i in range(1, match.re.groups + 1) if match.group(i)]
    if not groups:
        return match.span()
    return match.span(max(groups, key=lambda i: len(match.group(i))))


def _classes(value: str) -> int:
    return sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                any(c.isdigit() for c in value)))


def fragment_len(length: int) -> int:
    """How long a fragment of a secret of ``length`` characters must be to count as the
    secret: a secret split in two is caught if either half is this long, and fragments
    shorter than 8 characters are never looked for (0: the secret is too short)."""
    size = max(8, min(16, length // 2))
    return size if length >= 2 * 8 else 0


def token_runs(text: str, min_len: int) -> Iterator[re.Match[str]]:
    """The runs of the token alphabet in ``text`` that are at least ``min_len`` long."""
    for match in _TOKEN_RUN.finditer(text):
        if match.end() - match.start() >= min_len:
            yield match
