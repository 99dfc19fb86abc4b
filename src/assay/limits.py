"""Every bound on the work one request may cause, in one place (docs/operations.md, "Limits").

An anonymous caller must not be able to make an instance read, parse, hash or store without
bound. The fixed numbers live here; the ones an operator may want to change are settings
(``assay.settings.Settings``, read by :func:`login_throttle` and the apps), documented with
their defaults in docs/operations.md. Framework-free: each service's ``app.py`` maps
:class:`RateLimited` to its protocol's error shape with a ``Retry-After`` header
(RFC 9110 §10.2.3; RFC 6585 §4 for 429).

Rate limits are token buckets kept in this process's memory: no external service, and with
several nodes behind a load balancer each node limits separately (a client may spend the budget
once per node).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from assay.errors import AssayError, FormatError

# --- request bodies (read with assay.request_body.read_bounded) ---------------------------------

SMALL_BODY_BYTES = 16 * 1024
"""JSON bodies of the registry's small write routes (login, tokens, dist-tags, access, trusted
publishing settings) and of the OIDC issuer: a few hundred bytes in practice."""

OIDC_BODY_BYTES = 16 * 1024
"""``POST /-/oidc/ci/jobs``: a provider, a server URL and a few claims and variables."""

# The publish PUT is bounded by ``Settings.registry_max_body_bytes`` (default 150 MiB: a
# 100 MiB tarball, base64-encoded, and its manifest).

# --- what a publish may store -------------------------------------------------------------------

MAX_MANIFEST_BYTES = 1024 * 1024
"""A version's manifest as stored: the version object of the packument (its package.json as
normalised, plus ``dist``), serialized, without the README (stored apart, at most 64 KiB, and
shown only for the latest version). npmjs.org documents no number; 1 MiB is generous for a
package.json, which is rarely over a few KiB."""

MAX_DEPRECATION_CHARS = 1024
"""A ``deprecated`` message (``npm deprecate``), in characters."""

MAX_PACKUMENT_BYTES = 50 * 1024 * 1024
"""Default of ``Settings.registry_max_packument_bytes``: the sum of a package's live version
manifests and its README; the publish that would pass it is refused (422)."""

PACKUMENT_CACHE_BYTES = 256 * 1024 * 1024
"""Default of ``Settings.registry_packument_cache_bytes``: cached packuments, counted by the
size of their two serializations (full and abbreviated), each as JSON and gzip-compressed."""

TARBALL_CACHE_BYTES = 64 * 1024 * 1024
"""Default of ``Settings.registry_tarball_cache_bytes``: hot tarballs kept in memory, counted
by their bytes, least recently used out first."""

TARBALL_CACHE_ENTRY_BYTES = 1024 * 1024
"""Default of ``Settings.registry_tarball_cache_entry_bytes``: a larger tarball is never kept
(read from the blob store each time), so one big package cannot empty the cache."""

MIRROR_CACHE_BYTES = 256 * 1024 * 1024
"""Default of ``Settings.mirror_cache_bytes``: upstream packages the mirror holds in memory,
counted by :func:`assay.mirror.service.entry_bytes` (the upstream document, its parsed form
estimated, and the served documents), least recently refreshed out first; the database keeps
every one."""

# --- search and query parameters ----------------------------------------------------------------

SEARCH_MAX_WORDS = 10
SEARCH_MAX_TEXT_CHARS = 256
SEARCH_MAX_FROM = 10_000
"""``from`` of ``/-/v1/search``: deeper pages are refused (npmjs.org's search stops there too)."""

MAX_INTEGER = 2**63 - 1
"""The largest integer any query parameter may carry: the range of a database BIGINT (SQLite and
PostgreSQL), so that no number a client sends can overflow a query."""

LOG_PAGE_ROWS = 20
"""Versions per page of ``/-/web/log/package/<name>``."""

# --- rate limits (defaults of the settings of the same names) ------------------------------------

LOGIN_FAILURES_PER_CLIENT = 10
LOGIN_FAILURES_PER_USER = 20
LOGIN_WINDOW_SECONDS = 60.0
LOG_APPENDS_PER_MINUTE = 60
LOG_APPEND_BURST = 30
TOKEN_EXCHANGES_PER_MINUTE = 30
TOKEN_EXCHANGE_BURST = 10
RATE_LIMIT_KEYS = 100_000
"""Buckets kept per limiter; the least recently used is forgotten beyond it (memory stays
bounded whatever the number of clients)."""


class RateLimited(AssayError):
    """Too many requests (HTTP 429); ``retry_after`` whole seconds until one is allowed."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


def parse_int(raw: str | None, name: str, *, minimum: int = 0, maximum: int = MAX_INTEGER) -> int:
    """A decimal integer query parameter in ``[minimum, maximum]``, or :class:`FormatError`.

    Only ASCII digits (and a leading ``-`` when ``minimum`` is negative): ``int()`` alone would
    accept ``" 1_0 "`` and Unicode digits, and the number of digits is checked before converting,
    so a parameter of a million digits costs nothing.
    """
    text = raw or ""
    digits = text[1:] if text.startswith("-") and minimum < 0 else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise FormatError(f"{name} must be an integer between {minimum} and {maximum}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise FormatError(f"{name} must be an integer between {minimum} and {maximum}")
    return value


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``burst`` requests at once, refilled at ``per_second`` (a token bucket); a
    ``per_second`` of 0 is no limit at all."""

    burst: int
    per_second: float

    @classmethod
    def per_minute(cls, count: int, burst: int | None = None) -> RateLimit:
        return cls(burst if burst is not None else count, count / 60.0)


class RateLimiter:
    """Token buckets by key (a client address, a user name), in this process's memory.

    Thread-safe (routes run in a thread pool). :meth:`acquire` spends a token or raises
    :class:`RateLimited` with the seconds until the next one. :meth:`check` only asks (raises
    the same way) and :meth:`spend` only spends, for limits on failures: a login is checked
    before the password and spent only when it was wrong. At most :data:`RATE_LIMIT_KEYS`
    buckets are kept, least recently used forgotten first.
    """

    def __init__(
        self,
        limit: RateLimit,
        what: str,
        *,
        max_keys: int = RATE_LIMIT_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.what = what
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.limit.per_second <= 0  # 0 per minute: the settings' "no limit"

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + (now - at) * self.limit.per_second)

    def _refuse_if_empty(self, key: str, now: float) -> float:
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            retry = max(1, math.ceil((1.0 - tokens) / self.limit.per_second))
            raise RateLimited(
                f"Too many {self.what}; try again in {retry} seconds", retry_after=retry
            )
        return tokens

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def acquire(self, key: str) -> None:
        """Spend one request of ``key``'s budget, or raise :class:`RateLimited`."""
        if self.unlimited:
            return
        with self._lock:
            now = self._clock()
            self._store(key, self._refuse_if_empty(key, now) - 1.0, now)

    def check(self, key: str) -> None:
        """Raise :class:`RateLimited` if ``key``'s budget is spent; spend nothing."""
        if self.unlimited:
            return
        with self._lock:
            self._refuse_if_empty(key, self._clock())

    def spend(self, key: str) -> None:
        """Spend one of ``key``'s budget (never below empty)."""
        if self.unlimited:
            return
        with self._lock:
            now = self._clock()
            self._store(key, max(0.0, self._tokens(key, now) - 1.0), now)


def client_key(address: str | None) -> str:
    """The key a client is limited by: its address, an IPv6 one by its /64 (one host's share:
    a single machine usually holds a whole /64, RFC 4291 §2.5.1)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Failed password checks, limited per client and per user name.

    :meth:`check` is called before a password is checked (429 once either budget is spent,
    before any scrypt work is done); :meth:`failed` spends from both. A right password costs
    nothing, so a user who types it is never slowed, and ``npm`` with a legacy ``_auth`` (a
    password on every request, many at once) is unaffected. The per-user budget is larger than
    the per-client one: it stops a distributed guess at one account without letting a single
    client lock a user out. Concurrent failures may overshoot a budget by the number of
    requests in flight, no more.
    """

    def __init__(self, per_client: RateLimit, per_user: RateLimit) -> None:
        self.clients = RateLimiter(per_client, "failed logins from this address")
        self.users = RateLimiter(per_user, "failed logins for this user")

    def check(self, client: str | None, username: str) -> None:
        self.clients.check(client_key(client))
        self.users.check(username)

    def failed(self, client: str | None, username: str) -> None:
        self.clients.spend(client_key(client))
        self.users.spend(username)


def login_throttle(
    failures_per_client: int, failures_per_user: int, window: float
) -> LoginThrottle:
    """``failures_per_*`` failed logins at once, refilled over ``window`` seconds."""
    return LoginThrottle(
        RateLimit(failures_per_client, failures_per_client / window),
        RateLimit(failures_per_user, failures_per_user / window),
    )


def retry_after_header(error: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after)}


__all__ = [
    "LOGIN_FAILURES_PER_CLIENT",
    "LOGIN_FAILURES_PER_USER",
    "LOGIN_WINDOW_SECONDS",
    "LOG_APPENDS_PER_MINUTE",
    "LOG_APPEND_BURST",
    "LOG_PAGE_ROWS",
    "MAX_DEPRECATION_CHARS",
    "MAX_INTEGER",
    "MAX_MANIFEST_BYTES",
    "MAX_PACKUMENT_BYTES",
    "MIRROR_CACHE_BYTES",
    "OIDC_BODY_BYTES",
    "PACKUMENT_CACHE_BYTES",
    "RATE_LIMIT_KEYS",
    "SEARCH_MAX_FROM",
    "SEARCH_MAX_TEXT_CHARS",
    "SEARCH_MAX_WORDS",
    "SMALL_BODY_BYTES",
    "TARBALL_CACHE_BYTES",
    "TARBALL_CACHE_ENTRY_BYTES",
    "TOKEN_EXCHANGES_PER_MINUTE",
    "TOKEN_EXCHANGE_BURST",
    "LoginThrottle",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "client_key",
    "login_throttle",
    "parse_int",
    "retry_after_header",
]
