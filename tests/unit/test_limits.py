"""assay.limits: integer parameters, token buckets, client keys, the login throttle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from assay.errors import FormatError
from assay.limits import (
    MAX_INTEGER,
    LoginThrottle,
    RateLimit,
    RateLimited,
    RateLimiter,
    client_key,
    parse_int,
)
from assay.request_body import read_bounded


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("raw", "expected"), [("0", 0), ("42", 42), (str(MAX_INTEGER), MAX_INTEGER)]
)
def test_parse_int_takes_plain_decimal_integers(raw: str, expected: int) -> None:
    assert parse_int(raw, "n") == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "-1",
        "+1",
        " 1",
        "1_0",
        "1e3",
        "0x10",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: int() reads it as 3
        str(MAX_INTEGER + 1),
        "9" * 20,
        "9" * 100_000,
    ],
)
def test_parse_int_refuses_everything_else(raw: str | None) -> None:
    with pytest.raises(FormatError, match="must be an integer between"):
        parse_int(raw, "n")


def test_parse_int_bounds_and_negative_minimums() -> None:
    assert parse_int("-5", "n", minimum=-10) == -5
    with pytest.raises(FormatError):
        parse_int("11", "n", maximum=10)
    with pytest.raises(FormatError):
        parse_int("0", "page", minimum=1)


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(burst=3, per_second=0.5), "requests", clock=clock)
    for _ in range(3):
        limiter.acquire("a")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("a")
    assert refused.value.retry_after == 2  # one token at 0.5/s
    assert "Too many requests" in refused.value.message
    limiter.acquire("b")  # another key has its own bucket
    clock.now += 2
    limiter.acquire("a")
    with pytest.raises(RateLimited):
        limiter.acquire("a")
    clock.now += 3600
    for _ in range(3):  # refilled to the burst, never beyond
        limiter.acquire("a")
    with pytest.raises(RateLimited):
        limiter.acquire("a")


def test_per_minute_and_unlimited() -> None:
    assert RateLimit.per_minute(60, burst=5) == RateLimit(5, 1.0)
    assert RateLimit.per_minute(30) == RateLimit(30, 0.5)
    unlimited = RateLimiter(RateLimit.per_minute(0, burst=1), "x")
    for _ in range(1000):
        unlimited.acquire("a")


def test_memory_is_bounded_by_max_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(1, 0.001), "x", max_keys=100, clock=clock)
    for i in range(10_000):
        limiter.acquire(f"k{i}")
    assert len(limiter._buckets) == 100
    with pytest.raises(RateLimited):
        limiter.acquire("k9999")  # the most recent keys are kept


def test_check_and_spend_limit_failures_only() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(2, 0.1), "failures", clock=clock)
    for _ in range(10):
        limiter.check("a")  # asking spends nothing
    limiter.spend("a")
    limiter.spend("a")
    limiter.spend("a")  # never below empty
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 10
    clock.now += 10
    limiter.check("a")


def test_client_keys() -> None:
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:ffff::1") == client_key("2001:db8:1:2::9")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key(None) == "unknown"
    assert client_key("testclient") == "testclient"


def test_the_login_throttle_counts_failures_per_client_and_per_user() -> None:
    throttle = LoginThrottle(RateLimit(2, 0.001), RateLimit(3, 0.001))
    for _ in range(2):
        throttle.check("192.0.2.1", "alice")
        throttle.failed("192.0.2.1", "alice")
    with pytest.raises(RateLimited, match="from this address"):
        throttle.check("192.0.2.1", "bob")
    throttle.check("192.0.2.2", "alice")
    throttle.failed("192.0.2.2", "alice")
    with pytest.raises(RateLimited, match="for this user"):
        throttle.check("192.0.2.3", "alice")
    throttle.check("192.0.2.3", "bob")


@pytest.mark.parametrize("declared", ["²", "٣", "+5", " 5"])
def test_a_content_length_of_other_than_ascii_digits_is_not_trusted(declared: str) -> None:
    # str.isdigit() holds for "²", which int() refuses; such a header is ignored and the body
    # is read up to the cap as for a chunked one.
    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}"

    assert asyncio.run(read_bounded(chunks(), declared, 16)) == b"{}"
