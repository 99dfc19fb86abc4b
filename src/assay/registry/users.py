"""Accounts: user names, e-mail addresses and password hashes.

Passwords are hashed with scrypt (RFC 7914) and a random 16-byte salt, parameters stored with
the hash so they can be raised later (``scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>``);
verification recomputes and compares in constant time. N = 2^15, r = 8 costs ~32 MiB and tens of
milliseconds, which only logins and ``npm token create`` (both send the password) pay.
User names follow npm-user-validate: lower case, URL-safe, at most 214 characters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from assay.registry.errors import BadRequest

_LOG2_N, _R, _P = 15, 8, 1
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_PASSWORD_LENGTH = 8


def check_username(name: str) -> str:
    if len(name) > 214 or not _USERNAME.fullmatch(name):
        raise BadRequest(
            f"Invalid user name {name!r}: use lower-case letters, digits, '.', '_' and '-'"
        )
    return name


def check_email(email: str) -> str:
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise BadRequest(f"Invalid e-mail address {email!r}")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return password


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG2_N, _R, _P)
    return "$".join(["scrypt", str(_LOG2_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; False (never an exception) for a malformed hash."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(
            password, base64.b64decode(salt, validate=True), int(log2_n), int(r), int(p)
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=1 << log2_n,
        r=r,
        p=p,
        maxmem=_MAXMEM,
        dklen=_DKLEN,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
