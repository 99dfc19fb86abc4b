"""Accounts: users, passwords, access tokens and who is asking (the principal of a request).

Rules enforced here (what registry.npmjs.org does, unless noted):

* **Passwords** are hashed with scrypt (RFC 7914) and a random 16-byte salt, parameters stored
  with the hash so they can be raised later (``scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>``);
  verification recomputes and compares in constant time. N = 2^15, r = 8 costs ~32 MiB and tens
  of milliseconds, which only logins and ``npm token create`` (both send the password) pay.
* **User names** follow npm-user-validate: lower case, URL-safe, at most 214 characters.
* **Tokens** are ``assay_`` + 43 characters of base64url (32 random bytes from :mod:`secrets`).
  Only their SHA-256 is stored; a request's token is hashed, looked up by that hash and the
  stored hash is compared in constant time (:func:`hmac.compare_digest`). What ``npm token
  list`` shows is a public ``key`` (random, unrelated to the secret) and a short ``preview`` of
  the token's start, as npmjs.org does, so a leaked listing reveals nothing usable. A token may
  be read-only, expire, and be limited to IPv4 CIDRs (``npm token create --cidr``).
* **Exchanged tokens** (trusted publishing, docs/trusted-publishing.md) are looked up when a
  bearer is no user's token: they authenticate a :class:`TrustedPrincipal` until they expire,
  and their publisher must still exist (revoking it revokes them). ``npm token list`` shows a
  maintainer the live exchanged tokens of their packages, and ``npm token revoke`` takes them.
* **Profiles** (``GET /-/user/org.couchdb.user:<name>``) show the e-mail address only to its
  owner.
* **Logins** that fail say "Incorrect username or password" whether the user exists or not,
  after the same scrypt work (an unknown user's password is checked against a dummy hash, so
  the answer's timing does not tell either). Failed password checks are limited per client
  address and per user name (:class:`assay.limits.LoginThrottle`: 429 with ``Retry-After``
  once spent, before any scrypt work; a success costs nothing). An existing user "added"
  again with the right password is logged in (npm relies on it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from assay.limits import login_throttle
from assay.registry.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from assay.registry.packuments import iso
from assay.settings import Settings
from assay.storage.account_store import StoreConflict, StoredToken, StoredUser, now_ms
from assay.storage.registry_store import RegistryStore
from assay.storage.trust_store import StoredOidcToken, StoredPublisher, TrustStore

BEARER = 'Bearer realm="assay"'
BASIC = 'Basic realm="assay"'

# --- users and passwords -------------------------------------------------------------------------

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


@cache
def _dummy_hash() -> str:
    """A hash no password matches, verified against for unknown users: the same scrypt work as
    a known user's, so the time of a refusal does not tell whether the user exists."""
    return hash_password(secrets.token_urlsafe(24))


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


# --- tokens --------------------------------------------------------------------------------------

TOKEN_PREFIX = "assay_"  # noqa: S105 - the public start of every token, not a secret
PREVIEW_LENGTH = len(TOKEN_PREFIX) + 4


@dataclass(frozen=True, slots=True)
class NewToken:
    secret: str
    key: str
    token_hash: str
    preview: str


def new_token() -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
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


def oidc_token_json(token: StoredOidcToken) -> dict[str, Any]:
    """An exchanged token as ``npm token list`` shows it to the package's maintainers."""
    created = iso(token.created_ms)
    return {
        "key": token.key,
        "token": token.preview,
        "name": oidc_token_name(token),
        "readonly": False,
        "cidr_whitelist": None,
        "created": created,
        "updated": created,
        "expires": iso(token.expires_ms),
        "package": token.package,
        "type": "oidc",
    }


def oidc_token_name(token: StoredOidcToken) -> str:
    """``oidc: github acme/widget release.yml`` (provider, repository, workflow file)."""
    identity = token.identity
    workflow = str(identity.get("workflow") or "").rsplit("/", 1)[-1]
    parts = (identity.get("provider"), identity.get("repository"), workflow)
    return "oidc: " + " ".join(str(p) for p in parts if p)


def token_json(token: StoredToken) -> dict[str, Any]:
    """A token as ``npm token list`` shows it: never the secret, only its preview."""
    created = iso(token.created_ms)
    result: dict[str, Any] = {
        "key": token.key,
        "token": token.preview,
        "name": token.name,
        "readonly": token.readonly,
        "cidr_whitelist": list(token.cidr_whitelist) if token.cidr_whitelist else None,
        "created": created,
        "updated": created,
    }
    if token.expires_ms is not None:
        result["expires"] = iso(token.expires_ms)
    return result


# --- principals ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user, and the token they used (None for Basic auth)."""

    user: StoredUser
    token: StoredToken | None

    @property
    def readonly(self) -> bool:
        return self.token is not None and self.token.readonly


# The permissions of a trusted publisher, as npm's trust API names them (lib/trust-cmd.js).
CREATE_PACKAGE = "createPackage"  # npm publish
CREATE_STAGED_PACKAGE = "createStagedPackage"  # npm stage publish
PERMISSIONS = (CREATE_PACKAGE, CREATE_STAGED_PACKAGE)


@dataclass(frozen=True, slots=True)
class TrustedPrincipal:
    """A CI job acting through trusted publishing: the bearer of a token the OIDC exchange
    minted. It is nobody's account: it may publish (or stage) `token.package` with the
    token's permissions until the token expires, and nothing else (docs/trusted-publishing.md)."""

    token: StoredOidcToken
    publisher: StoredPublisher

    @property
    def package(self) -> str:
        return self.token.package

    def may(self, permission: str, package: str) -> bool:
        return package == self.token.package and permission in self.token.permissions


Caller = Principal | TrustedPrincipal
"""Whoever authenticated a request: a user (with or without a token) or a trusted publisher."""


def require(principal: Caller | None, action: str, *, write: bool = True) -> Principal:
    """The user principal, if it may do `action`: 401 for nobody, 403 for a read-only token and
    for a trusted-publishing token (it may only publish its package; see
    :class:`TrustedPrincipal`, whose publish path checks it explicitly)."""
    if principal is None:
        raise Unauthorized(f"You must be logged in to {action}. Run `npm login` first.")
    if isinstance(principal, TrustedPrincipal):
        raise Forbidden(
            f"This token was issued by trusted publishing for {principal.package}; "
            f"it can only publish that package, not {action}"
        )
    if write and principal.readonly:
        raise Forbidden(f"This token is read-only; it cannot be used to {action}")
    return principal


class Accounts:
    """Users and tokens over the registry's store: every account operation of the npm protocol."""

    def __init__(self, store: RegistryStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.trust = TrustStore(store.engine)
        self.logins = login_throttle(
            settings.login_failures_per_client,
            settings.login_failures_per_user,
            settings.login_window_seconds,
        )

    def check_password(
        self, user: StoredUser | None, name: str, password: str, client_ip: str | None
    ) -> bool:
        """Whether `password` is `user`'s; an unknown user (None) costs the same scrypt work.
        Throttled per client and per `name`: 429 before any work once their failures are
        spent; only a failure spends."""
        self.logins.check(client_ip, name)
        ok = verify_password(password, user.password_hash if user else _dummy_hash())
        if ok and user is not None:
            return True
        self.logins.failed(client_ip, name)
        return False

    # --- authentication ----------------------------------------------------------------------

    def authenticate(self, authorization: str | None, client_ip: str | None) -> Caller | None:
        """The principal of an ``Authorization`` header; None without one; 401 if it is bad.

        A bearer that is no user's token may be one the OIDC exchange minted: then the caller
        is a :class:`TrustedPrincipal` (it may only publish its package)."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return self._bearer(credentials, client_ip)
        if scheme.lower() == "basic" and credentials:
            return self._basic(credentials, client_ip)
        raise Unauthorized("Unsupported authorization scheme", challenge=BEARER)

    def _bearer(self, secret: str, client_ip: str | None) -> Caller:
        digest = hash_token(secret)
        found = self.store.token_by_hash(digest)
        if found is None or not same_hash(found[0].token_hash, digest):
            return self._exchanged(digest)
        token, user = found
        if token.expires_ms is not None and token.expires_ms <= now_ms():
            raise Unauthorized("This token has expired", challenge=BEARER)
        if not address_allowed(token.cidr_whitelist, client_ip):
            raise Unauthorized("Login is not allowed from your IP address", challenge="ipaddress")
        return Principal(user, token)

    def _exchanged(self, digest: str) -> TrustedPrincipal:
        token = self.trust.oidc_token_by_hash(digest)
        if token is None or not same_hash(token.token_hash, digest):
            raise Unauthorized("Invalid or revoked token", challenge=BEARER)
        if token.expires_ms <= now_ms():
            raise Unauthorized(
                "This trusted-publishing token has expired; exchange a new OIDC token",
                challenge=BEARER,
            )
        publisher = self.trust.publisher(token.publisher_id)
        if publisher is None or publisher.package != token.package:
            raise Unauthorized("Invalid or revoked token", challenge=BEARER)
        return TrustedPrincipal(token, publisher)

    def _basic(self, credentials: str, client_ip: str | None = None) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise Unauthorized("Malformed Basic credentials", challenge=BASIC) from exc
        name, sep, password = decoded.partition(":")
        user = self.store.user_by_name(name) if sep else None
        ok = self.check_password(user, name, password, client_ip)  # the same work for nobody
        if user is None or not ok:
            raise Unauthorized("Incorrect username or password", challenge=BASIC)
        return Principal(user, None)

    # --- users ---------------------------------------------------------------------------------

    def couch_login(
        self, url_name: str, body: Mapping[str, Any], client_ip: str | None = None
    ) -> dict[str, Any]:
        """``PUT /-/user/org.couchdb.user:<name>``: npm adduser and npm login (legacy).

        An existing user with the right password is logged in (npmjs.org's quirk that npm
        relies on: "adding" an existing user is a login); an unknown one is created when the
        body has an e-mail (adduser) and sign-up is allowed."""
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not password:
            raise BadRequest("name and password are required")
        if name != url_name:
            raise BadRequest("The user name in the body does not match the URL")
        user = self.store.user_by_name(name)
        if user is None:
            email = body.get("email")
            if not isinstance(email, str):
                # A login of an unknown user: answer as for a wrong password, naming nobody,
                # after the same work and under the same throttle.
                self.check_password(None, name, password, client_ip)
                raise Unauthorized("Incorrect username or password", challenge=BASIC)
            if not self.settings.registry_allow_signup:
                raise Forbidden("Sign-up is disabled on this registry; ask an administrator")
            user = self.add_user(name, email, password)
        elif not self.check_password(user, name, password, client_ip):
            raise Unauthorized("Incorrect username or password", challenge=BASIC)
        secret, _ = self.issue_token(user, name="npm login")
        return {"ok": True, "id": f"org.couchdb.user:{name}", "rev": "1", "token": secret}

    def add_user(self, name: str, email: str, password: str) -> StoredUser:
        check_username(name)
        check_email(email)
        check_password(password)
        try:
            return self.store.create_user(name, email, hash_password(password))
        except StoreConflict as exc:
            raise Conflict(f"User {name} already exists") from exc

    def user_profile(self, name: str, who: Caller | None) -> dict[str, Any]:
        """``GET /-/user/org.couchdb.user:<name>`` (what ``npm owner add`` looks up): the name
        for anyone, the e-mail address only for the user themself. ``npm owner add`` needs
        only the name (the maintainer is resolved by it); an address is personal data."""
        user = self.store.user_by_name(name)
        if user is None:
            raise NotFound("Not found")
        profile = {"_id": f"org.couchdb.user:{name}", "name": user.name}
        if isinstance(who, Principal) and who.user.id == user.id:
            profile["email"] = user.email
        return profile

    @staticmethod
    def whoami(who: Caller | None) -> dict[str, Any]:
        if who is None:
            raise Unauthorized("You are not logged in", challenge=BEARER)
        if isinstance(who, TrustedPrincipal):
            # Nobody's account: npm shows this name (npmjs.org answers with the CI's name).
            return {"username": oidc_token_name(who.token)}
        return {"username": who.user.name}

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(
        self,
        user: StoredUser,
        *,
        readonly: bool = False,
        name: str | None = None,
        cidr_whitelist: tuple[str, ...] | None = None,
        expires_ms: int | None = None,
    ) -> tuple[str, StoredToken]:
        """A new token for `user`; the secret is returned once and never stored."""
        fresh = new_token()
        stored = StoredToken(
            key=fresh.key,
            token_hash=fresh.token_hash,
            user_id=user.id,
            preview=fresh.preview,
            name=name,
            readonly=readonly,
            cidr_whitelist=cidr_whitelist,
            created_ms=now_ms(),
            expires_ms=expires_ms,
        )
        self.store.add_token(stored)
        return fresh.secret, stored

    def list_tokens(self, who: Caller | None) -> dict[str, Any]:
        principal = require(who, "list tokens", write=False)
        objects = [token_json(t) for t in self.store.tokens_of(principal.user.id)]
        # The live exchanged tokens of the packages this user maintains.
        packages = self.store.packages_of(principal.user.id)
        objects += [oidc_token_json(t) for t in self.trust.oidc_tokens(packages)]
        return {"objects": objects, "total": len(objects), "urls": {}}

    def create_token(
        self, body: object, who: Caller | None, client_ip: str | None = None
    ) -> dict[str, Any]:
        """``POST /-/npm/v1/tokens`` (npm token create): the password is asked again."""
        principal = require(who, "create tokens")
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object")
        password = body.get("password")
        if not isinstance(password, str) or not self.check_password(
            principal.user, principal.user.name, password, client_ip
        ):
            raise Unauthorized("Incorrect or missing password", challenge=BASIC)
        readonly = body.get("readonly") is True or (
            body.get("packages_and_scopes_permission") == "read-only"
        )
        name = body.get("name")
        expires = body.get("expires")
        if expires is not None and (not isinstance(expires, int) or expires <= 0):
            raise BadRequest("expires must be a positive number of days")
        secret, stored = self.issue_token(
            principal.user,
            readonly=readonly,
            name=name if isinstance(name, str) else None,
            cidr_whitelist=parse_cidrs(body.get("cidr_whitelist")),
            expires_ms=None if expires is None else now_ms() + expires * 86_400_000,
        )
        return {**token_json(stored), "token": secret}

    def delete_token(self, key_or_secret: str, who: Caller | None) -> None:
        """``DELETE /-/npm/v1/tokens/token/<key>``: by the listed key, or by the token itself.
        A maintainer may also revoke the exchanged tokens of their packages by key."""
        principal = require(who, "revoke tokens")
        if key_or_secret.startswith(TOKEN_PREFIX):
            deleted = self.store.delete_token(
                token_hash=hash_token(key_or_secret), user_id=principal.user.id
            )
        else:
            deleted = self.store.delete_token(key=key_or_secret, user_id=principal.user.id)
            if not deleted:
                packages = self.store.packages_of(principal.user.id)
                deleted = self.trust.delete_oidc_token(key_or_secret, packages)
        if not deleted:
            raise NotFound("No such token")

    def logout(self, secret: str) -> None:
        """``DELETE /-/user/token/<token>`` (npm logout): the token is its own credential."""
        self.store.delete_token(token_hash=hash_token(secret))


__all__ = [
    "BASIC",
    "BEARER",
    "CREATE_PACKAGE",
    "CREATE_STAGED_PACKAGE",
    "PERMISSIONS",
    "Accounts",
    "Caller",
    "NewToken",
    "Principal",
    "TrustedPrincipal",
    "address_allowed",
    "check_email",
    "check_password",
    "check_username",
    "hash_password",
    "hash_token",
    "new_token",
    "oidc_token_json",
    "oidc_token_name",
    "parse_cidrs",
    "require",
    "same_hash",
    "token_json",
    "verify_password",
]
