"""Access tokens: generation, storage form and the checks every use of a token goes through.

A token is ``assay_`` + 43 characters of base64url (32 random bytes from :mod:`secrets`). Only its
SHA-256 is stored; a request's token is hashed, looked up by that hash and the stored hash is
compared in constant time (:func:`hmac.compare_digest`). What ``npm token list`` shows is a public
``key`` (random, unrelated to the secret) and a short ``preview`` of the token's start, as
npmjs.org does, so a leaked listing reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from assay.registry.errors import BadRequest

PREFIX = "assay_"
PREVIEW_LENGTH = len(PREFIX) + 4


@dataclass(frozen=True, slots=True)
class NewToken:
    secret: str
    key: str
    token_hash: str
    preview: str


def new_token() -> NewToken:
    secret = PREFIX + secrets.token_urlsafe(32)
    return NewToken(secret, secrets.token_hex(16), hash_token(secret), secret[:PREVIEW_LENGTH])


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def parse_cidrs(values: object) -> tuple[str, ...] | None:
    """A CIDR whitelist as npm sends it (a list of IPv4 CIDRs), normalized; None for none."""
    if values is None or values == []:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest("cidr_whitelist must be a list of IPv4 CIDR strings")
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise BadRequest(f"CIDR whitelist contains invalid CIDR entry: {value}") from exc
        if network.version != 4:
            raise BadRequest(f"CIDR whitelist can only contain IPv4 addresses, {value} is IPv6")
        networks.append(str(network))
    return tuple(networks)


def address_allowed(whitelist: tuple[str, ...] | None, address: str | None) -> bool:
    if whitelist is None:
        return True
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr) for cidr in whitelist)
