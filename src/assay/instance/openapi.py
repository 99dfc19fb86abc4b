"""The OpenAPI 3.1 document of the all-in-one instance, served at ``GET /-/openapi.json``.

Every route of every service the instance mounts is described here — the registry (the npm
protocol, including its raw catch-all package route), the transparency log, the CA (at
``/-/ca`` and at the origin), the OIDC issuer, the trust files and the web pages — with the
statuses each route really answers, its media types and the shapes of its main bodies,
errors included. FastAPI would generate a document only for its typed routes, and most routes
here read their body by hand after authenticating (assay.limits), so the document is written
rather than generated: one part per service below (``_registry``, ``_tlog``, …), merged by
:func:`document`. A new route is one entry in its service's part; ``tests/unit/instance/
test_openapi.py`` walks the app's routes and fails for any route the document does not name.

Each operation names the app route that serves it in ``x-assay-route`` (the route's path
template at the origin, converters dropped) when that differs from its OpenAPI path: the
registry's one Starlette route ``/{path}`` serves the packument, version, tarball and
unpublish paths, each documented as npm uses it.

Error shapes, one per protocol (docs/operations.md, "Limits"): the registry and the OIDC issuer
answer ``{"error": "…"}`` (what npm prints), the log and the CA ``{"code": …, "message": "…"}``
(Rekor's and Fulcio's), the web pages HTML. A 429 carries ``Retry-After`` (RFC 6585 §4).

``bench/fuzz.py`` and ``tests/e2e/test_openapi_fuzz.py`` drive the instance from this document
with schemathesis: no response may be a 5xx or differ from what is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from assay.oidc.app import JobRegistration

Schema = dict[str, Any]
Operation = dict[str, Any]
Paths = dict[str, dict[str, Operation]]

OPENAPI_PATH: Final = "/-/openapi.json"

# --- shared shapes ----------------------------------------------------------------------------

_STRING: Final[Schema] = {"type": "string"}
_INTEGER: Final[Schema] = {"type": "integer"}
_OBJECT: Final[Schema] = {"type": "object"}

NPM_ERROR: Final[Schema] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": _STRING,
        "message": _STRING,  # the OIDC exchange also sends it (npm logs body.message)
        "reason": _STRING,  # the OIDC issuer's machine-readable reason
    },
}
CODE_ERROR: Final[Schema] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": _INTEGER, "message": _STRING},
}
OK: Final[Schema] = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}

_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "seconds to wait (RFC 9110 §10.2.3)",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}

_REASONS: Final[Mapping[int, str]] = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Found: a browser is sent to the web page",
    303: "See other",
    304: "Not modified (If-None-Match)",
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable",
    429: "Too many requests",
    503: "Unavailable: retry later",
}

_JSON: Final = "application/json"
_HTML: Final = "text/html"
_OCTETS: Final = "application/octet-stream"
_CORGI: Final = "application/vnd.npm.install-v1+json"


def _content(media: str, schema: Schema | None = None) -> dict[str, Any]:
    return {media: {"schema": schema if schema is not None else {}}}


def _response(status: int, content: dict[str, Any] | None = None, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _REASONS.get(status, str(status))}
    if content is not None:
        response["content"] = content
    if status == 429:
        headers = {**_RETRY_AFTER, **headers}
    if headers:
        response["headers"] = headers
    return response


def _errors(statuses: Iterable[int], content: dict[str, Any]) -> dict[str, Any]:
    return {str(status): _response(status, content) for status in statuses}


def _operation(
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: Iterable[Mapping[str, Any]] = (),
    body: Mapping[str, Any] | None = None,
    route: str | None = None,
    security: Iterable[str] = (),
) -> Operation:
    operation: Operation = {"summary": summary, "responses": responses}
    parameters = list(parameters)
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = dict(body)
    if route is not None:
        operation["x-assay-route"] = route
    schemes = list(security)
    if schemes:
        # Optional credentials: the route also answers an anonymous caller.
        operation["security"] = [{scheme: []} for scheme in schemes] + [{}]
    return operation


def _path(name: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or _STRING}


def _query(name: str, schema: Schema | None = None, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema or _STRING}


def _json_body(schema: Schema | None = None, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": _content(_JSON, schema)}


# --- the registry (assay.registry.app; docs/specs npm-registry.md) -----------------------------

_NPM: Final = _content(_JSON, NPM_ERROR)
_NPM_AUTH: Final = ("npmToken", "npmBasic")

PACKUMENT: Final[Schema] = {
    "type": "object",
    "required": ["name", "versions", "dist-tags"],
    "properties": {
        "name": _STRING,
        "versions": {"type": "object", "additionalProperties": _OBJECT},
        "dist-tags": {"type": "object", "additionalProperties": _STRING},
    },
}
MANIFEST: Final[Schema] = {
    "type": "object",
    "required": ["name", "version", "dist"],
    "properties": {
        "name": _STRING,
        "version": _STRING,
        "dist": {
            "type": "object",
            "required": ["tarball", "shasum", "integrity"],
            "properties": {"tarball": _STRING, "shasum": _STRING, "integrity": _STRING},
        },
    },
}
SEARCH_RESULT: Final[Schema] = {
    "type": "object",
    "required": ["objects", "total", "time"],
    "properties": {
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["package"],
                "properties": {
                    "package": {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {"name": _STRING, "version": _STRING},
                    }
                },
            },
        },
        "total": _INTEGER,
        "time": _STRING,
    },
}
KEYS: Final[Schema] = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["keyid", "key"],
                "properties": {"keyid": _STRING, "key": _STRING, "keytype": _STRING},
            },
        }
    },
}
ATTESTATIONS: Final[Schema] = {
    "type": "object",
    "required": ["attestations"],
    "properties": {
        "attestations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["predicateType", "bundle"],
                "properties": {"predicateType": _STRING, "bundle": _OBJECT},
            },
        }
    },
}
_STRING_MAP: Final[Schema] = {"type": "object", "additionalProperties": _STRING}
_TAG_BODY: Final[Schema] = {"type": "string", "description": "the version, as a JSON string"}
# The registry's bodies are read by hand, so any JSON reaches the handler: it answers 400 for
# what it cannot use. A loose schema lets the fuzzer send every kind of value.
_ANY_JSON: Final[Schema] = {}


def _registry() -> Paths:
    name = _path("name")
    auth = _NPM_AUTH
    # Every route that reads credentials can answer 401 (a bad token or scheme) and 429 (a
    # client or user past its failed-password budget, when Basic credentials are wrong).
    creds = (401, 429)
    return {
        "/-/whoami": {
            "get": _operation(
                "npm whoami",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors(creds, _NPM),
                },
                security=auth,
            )
        },
        "/-/user/org.couchdb.user:{name}": {
            "put": _operation(
                "npm adduser / npm login (legacy): create a user or log in",
                {
                    "201": _response(201, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 409, 413, 429), _NPM),
                },
                parameters=[name],
                body=_json_body(
                    {
                        "type": "object",
                        "properties": {"name": _STRING, "password": _STRING, "email": _STRING},
                    }
                ),
                security=auth,
            ),
            "get": _operation(
                "a user's profile (npm owner add looks the user up)",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 404, *creds), _NPM),
                },
                parameters=[name],
                security=auth,
            ),
        },
        "/-/user/token/{token}": {
            "delete": _operation(
                "npm logout: revoke a token",
                {"200": _response(200, _content(_JSON, OK)), **_errors((400,), _NPM)},
                parameters=[_path("token")],
            )
        },
        "/-/user/{name}/package": {
            "get": _operation(
                "npm access list packages <user>",
                {"200": _response(200, _content(_JSON, _STRING_MAP)), **_errors((400, 404), _NPM)},
                parameters=[name],
            )
        },
        "/-/npm/v1/keys": {
            "get": _operation(
                "the keys of dist.signatures (npm audit signatures)",
                {"200": _response(200, _content(_JSON, KEYS))},
            )
        },
        "/-/npm/v1/attestations/{spec}": {
            "get": _operation(
                "a version's attestations: `<name>@<version>`",
                {
                    "200": _response(200, _content(_JSON, ATTESTATIONS)),
                    **_errors((400, 404), _NPM),
                },
                parameters=[_path("spec")],
            )
        },
        "/-/npm/v1/oidc/token/exchange/package/{name}": {
            "post": _operation(
                "trusted publishing: an OIDC identity token for a short-lived publish token",
                {
                    "201": _response(
                        201,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["token"],
                                "properties": {"token": _STRING},
                            },
                        ),
                    ),
                    **_errors((400, 401, 403, 404, 413, 429, 503), _NPM),
                },
                parameters=[name],
                body=_json_body(_ANY_JSON, required=False),
                security=("oidcToken",),
            )
        },
        "/-/npm/v1/tokens": {
            "get": _operation(
                "npm token list",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["objects"],
                                "properties": {"objects": {"type": "array"}},
                            },
                        ),
                    ),
                    **_errors(creds, _NPM),
                },
                security=auth,
            ),
            "post": _operation(
                "npm token create (the password again in the body)",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 413, 429), _NPM),
                },
                body=_json_body(
                    {
                        "type": "object",
                        "properties": {
                            "password": _STRING,
                            "readonly": {"type": "boolean"},
                            "cidr_whitelist": {"type": "array", "items": _STRING},
                        },
                    }
                ),
                security=auth,
            ),
        },
        "/-/npm/v1/tokens/token/{key}": {
            "delete": _operation(
                "npm token revoke",
                {"204": _response(204), **_errors((400, 404, *creds), _NPM)},
                parameters=[_path("key")],
                security=auth,
            )
        },
        "/-/package/{name}/dist-tags": {
            "get": _operation(
                "npm dist-tag ls",
                {"200": _response(200, _content(_JSON, _STRING_MAP)), **_errors((400, 404), _NPM)},
                parameters=[name],
            )
        },
        "/-/package/{name}/dist-tags/{tag}": {
            method: _operation(
                "npm dist-tag add",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 404, 413, 429), _NPM),
                },
                parameters=[name, _path("tag")],
                body=_json_body(_TAG_BODY),
                security=auth,
            )
            for method in ("put", "post")
        }
        | {
            "delete": _operation(
                "npm dist-tag rm",
                {
                    "200": _response(200, _content(_JSON, OK)),
                    **_errors((400, 401, 403, 404, 429), _NPM),
                },
                parameters=[name, _path("tag")],
                security=auth,
            )
        },
        "/-/package/{name}/visibility": {
            "get": _operation(
                "npm access get status",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 404), _NPM),
                },
                parameters=[name],
            )
        },
        "/-/package/{name}/collaborators": {
            "get": _operation(
                "npm access list collaborators",
                {"200": _response(200, _content(_JSON, _STRING_MAP)), **_errors((400, 404), _NPM)},
                parameters=[name],
            )
        },
        "/-/package/{name}/access": {
            "post": _operation(
                "npm access set",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 404, 413, 429), _NPM),
                },
                parameters=[name],
                body=_json_body(_ANY_JSON),
                security=auth,
            )
        },
        "/-/stage/package/{name}": {
            "post": _operation(
                "npm stage publish: a version held until it is approved",
                {
                    "201": _response(201, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 404, 409, 413, 422, 429), _NPM),
                },
                parameters=[name],
                body=_json_body(_ANY_JSON),
                security=auth,
            )
        },
        "/-/stage": {
            "get": _operation(
                "npm stage list",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, *creds), _NPM),
                },
                parameters=[
                    _query("page", {"type": "string"}),
                    _query("perPage", {"type": "string"}),
                    _query("package"),
                ],
                security=auth,
            )
        },
        "/-/stage/{stage_id}": {
            "get": _operation(
                "npm stage view",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 403, 404, *creds), _NPM),
                },
                parameters=[_path("stage_id")],
                security=auth,
            ),
            "delete": _operation(
                "npm stage reject",
                {"204": _response(204), **_errors((400, 403, 404, 409, *creds), _NPM)},
                parameters=[_path("stage_id")],
                security=auth,
            ),
        },
        "/-/stage/{stage_id}/tarball": {
            "get": _operation(
                "npm stage download",
                {
                    "200": _response(200, _content(_OCTETS)),
                    **_errors((400, 403, 404, *creds), _NPM),
                },
                parameters=[_path("stage_id")],
                security=auth,
            )
        },
        "/-/stage/{stage_id}/approve": {
            "post": _operation(
                "npm stage approve: publish the staged version",
                {
                    "201": _response(201, _content(_JSON, {"type": "object"})),
                    **_errors((400, 403, 404, 409, 413, 422, *creds), _NPM),
                },
                parameters=[_path("stage_id")],
                security=auth,
            )
        },
        "/-/v1/search": {
            "get": _operation(
                "npm search (at most 10 words; size 1–250; from 0–10,000)",
                {
                    "200": _response(200, _content(_JSON, SEARCH_RESULT)),
                    **_errors((400,), _NPM),
                },
                parameters=[_query("text"), _query("size"), _query("from")],
            )
        },
        **_package_paths(),
    }


def _package_paths() -> Paths:
    """The registry's catch-all Starlette route ``/{path}``: every package path npm uses."""
    route = "/{path}"
    name = _path("name", {"type": "string", "description": "a name; @scope/name encoded"})
    rev = _path("rev")
    filename = _path("filename")
    auth = _NPM_AUTH
    accept = {"name": "Accept", "in": "header", "required": False, "schema": _STRING}
    if_none_match = {"name": "If-None-Match", "in": "header", "required": False, "schema": _STRING}
    packument = {
        "200": _response(200, {**_content(_JSON, PACKUMENT), **_content(_CORGI, PACKUMENT)}),
        "302": _response(302),
        "304": _response(304),
        **_errors((400, 404), _NPM),
    }
    tarball = {
        "200": _response(200, _content(_OCTETS)),
        "304": _response(304),
        **_errors((400, 404), _NPM),
    }
    unsupported = {**_errors((400,), _NPM)}
    write = (400, 401, 403, 404, 409, 413, 422, 429)
    return {
        "/": {
            "get": _operation(
                "the root: a browser is sent to the web pages; anything else is refused",
                {"302": _response(302), **_errors((400,), _NPM)},
                parameters=[accept],
                route=route,
            )
        },
        "/{name}": {
            "get": _operation(
                "a packument (abbreviated with Accept: application/vnd.npm.install-v1+json)",
                packument,
                parameters=[name, accept, if_none_match, _query("write")],
                route=route,
            ),
            "head": _operation(
                "a packument's headers",
                {key: {"description": value["description"]} for key, value in packument.items()},
                parameters=[name, accept, if_none_match],
                route=route,
            ),
            "put": _operation(
                "npm publish (the document with the tarball base64 in _attachments)",
                {
                    "201": _response(201, _content(_JSON, {"type": "object"})),
                    **_errors(write, _NPM),
                },
                parameters=[name],
                body=_json_body(_ANY_JSON),
                route=route,
                security=auth,
            ),
            "post": _operation("not supported", unsupported, parameters=[name], route=route),
            "delete": _operation(
                "not supported (unpublish names the revision)",
                unsupported,
                parameters=[name],
                route=route,
            ),
        },
        "/{name}/{version}": {
            "get": _operation(
                "one version's manifest (a version or a dist-tag)",
                {"200": _response(200, _content(_JSON, MANIFEST)), **_errors((400, 404), _NPM)},
                parameters=[name, _path("version")],
                route=route,
            )
        },
        "/{name}/-rev/{rev}": {
            "put": _operation(
                "npm's metadata updates: deprecate, unpublish a version, owners",
                {
                    "201": _response(201, _content(_JSON, {"type": "object"})),
                    **_errors(write, _NPM),
                },
                parameters=[name, rev],
                body=_json_body(_ANY_JSON),
                route=route,
                security=auth,
            ),
            "delete": _operation(
                "npm unpublish <name> --force: every version",
                {
                    "200": _response(200, _content(_JSON, OK)),
                    **_errors((400, 401, 403, 404, 409, 429), _NPM),
                },
                parameters=[name, rev],
                route=route,
                security=auth,
            ),
        },
        "/{name}/-/{filename}": {
            "get": _operation(
                "a tarball",
                tarball,
                parameters=[name, filename, if_none_match],
                route=route,
            ),
            "head": _operation(
                "a tarball's headers",
                {key: {"description": value["description"]} for key, value in tarball.items()},
                parameters=[name, filename, if_none_match],
                route=route,
            ),
        },
        "/{name}/-/{filename}/-rev/{rev}": {
            "delete": _operation(
                "the last step of npm unpublish <name>@<version>: the tarball",
                {
                    "200": _response(200, _content(_JSON, {"type": "object"})),
                    **_errors((400, 401, 403, 404, 409, 429), _NPM),
                },
                parameters=[name, filename, rev],
                route=route,
                security=auth,
            )
        },
    }


# --- the transparency log (assay.tlog.app: Rekor v1, C2SP tlog-tiles) --------------------------

_REKOR: Final = _content(_JSON, CODE_ERROR)
LOG_ENTRY: Final[Schema] = {
    "type": "object",
    "required": ["body", "integratedTime", "logID", "logIndex"],
    "properties": {
        "body": _STRING,
        "integratedTime": _INTEGER,
        "logID": _STRING,
        "logIndex": _INTEGER,
        "verification": _OBJECT,
    },
}
ENTRY_MAP: Final[Schema] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": LOG_ENTRY,
}
_INTEGER_TEXT: Final[Schema] = {
    "type": "string",
    "description": "decimal digits, 0 to 2^63-1 (anything else is 400)",
}


def _tlog(prefix: str) -> Paths:
    return {
        f"{prefix}/api/v1/log/entries": {
            "post": _operation(
                "append a verified entry (hashedrekord, dsse, intoto); rate-limited per client",
                {
                    "201": _response(
                        201,
                        _content(_JSON, ENTRY_MAP),
                        Location={"schema": _STRING},
                        ETag={"schema": _STRING},
                    ),
                    "409": _response(409, _REKOR, Location={"schema": _STRING}),
                    **_errors((400, 401, 413, 429, 503), _REKOR),
                },
                body=_json_body(_ANY_JSON),
                security=("tlogWriter",),
            ),
            "get": _operation(
                "an entry by index",
                {"200": _response(200, _content(_JSON, ENTRY_MAP)), **_errors((400, 404), _REKOR)},
                parameters=[_query("logIndex", _INTEGER_TEXT, required=True)],
            ),
        },
        f"{prefix}/api/v1/log/entries/retrieve": {
            "post": _operation(
                "several entries, by entryUUIDs, logIndexes or entries (at most 256 each)",
                {
                    "200": _response(200, _content(_JSON, {"type": "array", "items": ENTRY_MAP})),
                    **_errors((400, 413), _REKOR),
                },
                body=_json_body(
                    {
                        "type": "object",
                        "properties": {
                            "entryUUIDs": {"type": "array", "items": _STRING},
                            "logIndexes": {"type": "array", "items": _INTEGER},
                            "entries": {"type": "array", "items": _OBJECT},
                        },
                    }
                ),
            )
        },
        f"{prefix}/api/v1/log/entries/{{uuid}}": {
            "get": _operation(
                "an entry by UUID (64 hex) or entry ID (80 hex)",
                {"200": _response(200, _content(_JSON, ENTRY_MAP)), **_errors((400, 404), _REKOR)},
                parameters=[_path("uuid")],
            )
        },
        f"{prefix}/api/v1/log": {
            "get": _operation(
                "the log's size, root hash and signed tree head",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["rootHash", "treeSize", "signedTreeHead"],
                                "properties": {
                                    "rootHash": _STRING,
                                    "treeSize": _INTEGER,
                                    "signedTreeHead": _STRING,
                                    "treeID": _STRING,
                                },
                            },
                        ),
                    )
                },
            )
        },
        f"{prefix}/api/v1/log/proof": {
            "get": _operation(
                "a consistency proof from firstSize to lastSize (default: the current size)",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["hashes", "rootHash"],
                                "properties": {
                                    "hashes": {"type": "array", "items": _STRING},
                                    "rootHash": _STRING,
                                },
                            },
                        ),
                    ),
                    **_errors((400, 404), _REKOR),
                },
                parameters=[
                    _query("firstSize", _INTEGER_TEXT, required=True),
                    _query("lastSize", _INTEGER_TEXT),
                ],
            )
        },
        f"{prefix}/api/v1/log/publicKey": {
            "get": _operation(
                "the log's public key, PEM",
                {"200": _response(200, _content("application/x-pem-file", _STRING))},
            )
        },
        f"{prefix}/checkpoint": {
            "get": _operation(
                "the signed checkpoint (C2SP tlog-checkpoint)",
                {"200": _response(200, _content("text/plain", _STRING))},
            )
        },
        f"{prefix}/tile/{{tile}}": {
            "get": _operation(
                "a hash tile `<L>/<N>[.p/<W>]` or entry bundle `entries/<N>[.p/<W>]`",
                {"200": _response(200, _content(_OCTETS)), **_errors((404,), _REKOR)},
                parameters=[_path("tile")],
                route=f"{prefix}/tile/{{path}}",
            )
        },
    }


# --- the certificate authority (assay.ca.app: Fulcio v2) --------------------------------------

_FULCIO: Final = _content(_JSON, CODE_ERROR)
_CHAIN: Final[Schema] = {
    "type": "object",
    "required": ["certificates"],
    "properties": {"certificates": {"type": "array", "items": _STRING}},
}


def _ca(prefix: str) -> Paths:
    return {
        f"{prefix}/api/v2/signingCert": {
            "post": _operation(
                "CreateSigningCertificate: a short-lived certificate for a CI identity",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["signedCertificateEmbeddedSct"],
                                "properties": {
                                    "signedCertificateEmbeddedSct": {
                                        "type": "object",
                                        "required": ["chain"],
                                        "properties": {"chain": _CHAIN},
                                    }
                                },
                            },
                        ),
                    ),
                    **_errors((400, 401, 403, 413), _FULCIO),
                },
                body=_json_body(
                    {
                        "type": "object",
                        "properties": {
                            "credentials": {
                                "type": "object",
                                "properties": {"oidcIdentityToken": _STRING},
                            },
                            "publicKeyRequest": _OBJECT,
                            "certificateSigningRequest": _STRING,
                        },
                    }
                ),
                security=("oidcToken",),
            )
        },
        f"{prefix}/api/v2/trustBundle": {
            "get": _operation(
                "GetTrustBundle",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["chains"],
                                "properties": {"chains": {"type": "array", "items": _CHAIN}},
                            },
                        ),
                    )
                },
            )
        },
        f"{prefix}/api/v2/configuration": {
            "get": _operation(
                "GetConfiguration: the issuers this CA certifies",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["issuers"],
                                "properties": {"issuers": {"type": "array", "items": _OBJECT}},
                            },
                        ),
                    )
                },
            )
        },
    }


# --- the OIDC issuer (assay.oidc.app) -------------------------------------------------------


def _oidc(prefix: str) -> Paths:
    return {
        f"{prefix}/.well-known/openid-configuration": {
            "get": _operation(
                "OpenID discovery (OIDC Discovery §4)",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["issuer", "jwks_uri"],
                                "properties": {"issuer": _STRING, "jwks_uri": _STRING},
                            },
                        ),
                    )
                },
            )
        },
        f"{prefix}/.well-known/jwks": {
            "get": _operation(
                "the issuer's JWK Set",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["keys"],
                                "properties": {"keys": {"type": "array", "items": _OBJECT}},
                            },
                        ),
                    )
                },
            )
        },
        f"{prefix}/ci/token": {
            "get": _operation(
                "a CI job's identity token, as GitHub's ACTIONS_ID_TOKEN_REQUEST_URL answers",
                {
                    "200": _response(
                        200,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["value", "count"],
                                "properties": {"value": _STRING, "count": _INTEGER},
                            },
                        ),
                    ),
                    **_errors((400, 401, 404), _NPM),
                },
                parameters=[_query("audience"), _query("api-version")],
                security=("ciRequestToken",),
            )
        },
        f"{prefix}/ci/jobs": {
            "post": _operation(
                "register an emulated CI job (with the registration secret; CI emulation only)",
                {
                    "201": _response(
                        201,
                        _content(
                            _JSON,
                            {
                                "type": "object",
                                "required": ["request_token", "request_url", "expires_at", "job"],
                                "properties": {
                                    "request_token": _STRING,
                                    "request_url": _STRING,
                                    "expires_at": _STRING,
                                    "job": _OBJECT,
                                },
                            },
                        ),
                    ),
                    **_errors((400, 401, 403, 404, 413, 422), _NPM),
                },
                body=_json_body(JobRegistration.model_json_schema()),
                security=("registrationSecret",),
            )
        },
    }


# --- the instance's own routes: ping, trust files, this document -----------------------------


def _instance() -> Paths:
    return {
        "/-/ping": {
            "get": _operation(
                "200 once the instance is ready (npm ping)",
                {"200": _response(200, _content(_JSON, _OBJECT))},
            )
        },
        OPENAPI_PATH: {
            "get": _operation("this document", {"200": _response(200, _content(_JSON, _OBJECT))})
        },
        "/-/trust/{name}": {
            "get": _operation(
                "trusted_root.json, signing_config.json, client_trust_config.json",
                {"200": _response(200, _content(_JSON, _OBJECT)), **_errors((404,), _NPM)},
                parameters=[_path("name")],
            )
        },
        "/-/trust/tuf/{file}": {
            "get": _operation(
                "a file of the instance's TUF repository (root, timestamp, snapshot, targets)",
                {
                    "200": _response(200, {**_content(_JSON, _OBJECT), **_content(_OCTETS)}),
                    **_errors((404,), _NPM),
                },
                parameters=[_path("file")],
                route="/-/trust/tuf/{path}",
            )
        },
    }


# --- the web pages (assay.web.app) -----------------------------------------------------------


def _web(prefix: str) -> Paths:
    html = _content(_HTML, _STRING)
    page = {"200": _response(200, html), **_errors((400, 404), html)}
    redirect = {"303": _response(303)}
    return {
        f"{prefix}/": {"get": _operation("home: search box, recently published", page)},
        f"{prefix}/search": {
            "get": _operation("search results", page, parameters=[_query("q"), _query("from")])
        },
        f"{prefix}/package/{{page}}": {
            "get": _operation(
                "`<name>[/v/<version>[/provenance[.sigstore.json]]]`: a package, a version, its "
                "provenance, or the raw provenance bundle",
                {
                    "200": _response(200, {**html, **_content(_JSON, _OBJECT)}),
                    **_errors((400, 404), html),
                },
                parameters=[_path("page")],
                route=f"{prefix}/package/{{path}}",
            )
        },
        f"{prefix}/log": {"get": _operation("the log: checkpoint and latest entries", page)},
        f"{prefix}/log/lookup": {
            "get": _operation("the lookup form", redirect, parameters=[_query("entry")])
        },
        f"{prefix}/log/entries/{{ident}}": {
            "get": _operation(
                "one entry, by index or UUID, with its inclusion proof",
                page,
                parameters=[_path("ident")],
            )
        },
        f"{prefix}/log/package": {
            "get": _operation("the package form", redirect, parameters=[_query("name")])
        },
        f"{prefix}/log/package/{{name}}": {
            "get": _operation(
                "a package's log entries, 20 versions a page",
                page,
                parameters=[_path("name"), _query("page")],
            )
        },
        f"{prefix}/static/{{file}}": {
            "get": _operation(
                "the stylesheet and the favicon",
                {
                    "200": _response(
                        200, {"text/css": {"schema": _STRING}, "image/svg+xml": {"schema": _STRING}}
                    ),
                    **_errors((404,), html),
                },
                parameters=[_path("file")],
                route=f"{prefix}/static/{{path}}",
            )
        },
    }


# --- the document ----------------------------------------------------------------------------


def _tlog_v2(prefix: str) -> Paths:
    """Rekor v2 on the same tree (docs/tsa-and-rekor-v2.md): the write API and rekor-tiles'
    read paths."""
    return {
        f"{prefix}/api/v2/log/entries": {
            "post": _operation(
                "append a verified hashedRekordRequestV002 or dsseRequestV002; answers the "
                "TransparencyLogEntry once it is in a signed checkpoint; rate-limited per client",
                {
                    "200": _response(200, _content(_JSON, _OBJECT)),
                    **_errors((400, 401, 413, 429, 503), _REKOR),
                },
                body=_json_body(_ANY_JSON),
                security=("tlogWriter",),
            )
        },
        f"{prefix}/api/v2/checkpoint": {
            "get": _operation(
                "the log's signed checkpoint (C2SP signed note)",
                {"200": _response(200, _content("text/plain", _STRING))},
            )
        },
        f"{prefix}/api/v2/tile/{{path}}": {
            "get": _operation(
                "a tile or entry bundle (C2SP tlog-tiles)",
                {
                    "200": _response(200, _content(_OCTETS, _STRING)),
                    **_errors((400, 404), _REKOR),
                },
                parameters=[_path("path")],
            )
        },
    }


# --- the timestamp authority (assay.tsa.app: Sigstore timestamp-authority's API) ---------------

_TSA_ERROR: Final = _content(
    _JSON, {"type": "object", "properties": {"code": _INTEGER, "message": _STRING}}
)


def _tsa(prefix: str) -> Paths:
    return {
        f"{prefix}/api/v1/timestamp": {
            "post": _operation(
                "an RFC 3161 timestamp: a DER TimeStampReq (or timestamp-authority's JSON form) "
                "in, a granted TimeStampResp out",
                {
                    "200": _response(200, _content("application/timestamp-reply", _STRING)),
                    **_errors((400, 413, 415), _TSA_ERROR),
                },
                body={
                    "required": True,
                    "content": {
                        **_content("application/timestamp-query", _STRING),
                        **_content(_JSON, _OBJECT),
                    },
                },
            )
        },
        f"{prefix}/api/v1/timestamp/certchain": {
            "get": _operation(
                "the TSA's certificate chain, PEM, leaf first",
                {"200": _response(200, _content("application/pem-certificate-chain", _STRING))},
            )
        },
    }


# --- trusted publishing's settings (assay.registry.trust_settings, package_policy) --------------


def _trusted_publishing() -> Paths:
    name = _path("name")
    auth = _NPM_AUTH
    creds = (401, 429)
    configs = {"type": "array", "items": _OBJECT}
    return {
        "/-/package/{name}/trust": {
            "get": _operation(
                "npm trust list: the package's trusted publishers (maintainers)",
                {
                    "200": _response(200, _content(_JSON, configs)),
                    **_errors((400, 403, 404, *creds), _NPM),
                },
                parameters=[name],
                security=auth,
            ),
            "post": _operation(
                "npm trust github|gitlab|circleci: add publishers (a JSON array)",
                {
                    "201": _response(201, _content(_JSON, configs)),
                    **_errors((400, 403, 404, 409, 413, *creds), _NPM),
                },
                parameters=[name],
                body=_json_body(configs),
                security=auth,
            ),
        },
        "/-/package/{name}/trust/{publisher_id}": {
            "delete": _operation(
                "npm trust revoke: remove one publisher",
                {"204": _response(204), **_errors((400, 403, 404, *creds), _NPM)},
                parameters=[name, _path("publisher_id")],
                security=auth,
            )
        },
        "/-/package/{name}/policy": {
            "get": _operation(
                "the package's publish rules",
                {"200": _response(200, _content(_JSON, _OBJECT)), **_errors((400, 404), _NPM)},
                parameters=[name],
            ),
            "post": _operation(
                "set publish rules (maintainers): requireTrustedPublishing, requireProvenance, "
                "allowProvenanceDowngrade",
                {
                    "200": _response(200, _content(_JSON, _OBJECT)),
                    **_errors((400, 403, 404, 413, *creds), _NPM),
                },
                parameters=[name],
                body=_json_body(_OBJECT),
                security=auth,
            ),
        },
        "/-/package/{name}/audit": {
            "get": _operation(
                "the package's audit trail (maintainers), newest first",
                {
                    "200": _response(200, _content(_JSON, _OBJECT)),
                    **_errors((400, 403, 404, *creds), _NPM),
                },
                parameters=[name, _query("limit", _INTEGER_TEXT)],
                security=auth,
            )
        },
    }


# --- the mirror's operator routes (assay.mirror.app; only with uplinks) -----------------------


def _mirror(prefix: str) -> Paths:
    auth = _NPM_AUTH
    admin = (401, 403, 429)
    return {
        f"{prefix}/status": {
            "get": _operation(
                "assay mirror status: uplinks, freshness, cache counts (the administrator)",
                {"200": _response(200, _content(_JSON, _OBJECT)), **_errors(admin, _NPM)},
                security=auth,
            )
        },
        f"{prefix}/held": {
            "get": _operation(
                "assay mirror report: the versions held back and why (the administrator)",
                {"200": _response(200, _content(_JSON, _OBJECT)), **_errors(admin, _NPM)},
                security=auth,
            )
        },
        f"{prefix}/packages/{{spec}}": {
            "delete": _operation(
                "assay mirror evict NAME[@VERSION]: drop what is cached (the administrator)",
                {
                    "200": _response(200, _content(_JSON, _OBJECT)),
                    **_errors((400, 404, *admin), _NPM),
                },
                parameters=[_path("spec")],
            )
        },
    }


def _unrouted(path: str, method: str, operation: Operation) -> None:
    """A path parameter may carry what no route pattern matches (a decoded control character
    defeats Starlette's patterns): the instance itself answers 404 then, in the shape of the
    service the path names (``assay.instance.app.error_in_shape``). Found by the fuzzer."""
    parameters = operation.get("parameters", ())
    if not any(parameter["in"] == "path" for parameter in parameters):
        return
    responses = operation["responses"]
    if "404" in responses:
        return
    if method == "head":  # no bodies
        responses["404"] = {"description": _REASONS[404]}
    elif path.startswith("/-/tlog/"):
        responses["404"] = _response(404, _REKOR)
    elif path.startswith(("/-/ca/", "/api/v2/")):
        responses["404"] = _response(404, _FULCIO)
    elif path.startswith("/-/web/"):
        responses["404"] = _response(404, _content(_HTML, _STRING))
    else:
        responses["404"] = _response(404, _NPM)


PARTS: Final[tuple[Callable[[], Paths], ...]] = (
    _instance,
    lambda: _oidc("/-/oidc"),
    lambda: _ca("/-/ca"),
    lambda: _ca(""),  # the CA once more at the origin (assay.instance.app, sigstore-python)
    lambda: _tlog("/-/tlog"),
    lambda: _tlog_v2("/-/tlog"),
    lambda: _tsa("/-/tsa"),
    lambda: _web("/-/web"),
    _trusted_publishing,
    _registry,
)
"""The services' parts, in the order the instance routes a request (most specific first)."""

SECURITY_SCHEMES: Final[Mapping[str, Any]] = {
    "npmToken": {"type": "http", "scheme": "bearer", "description": "an npm token"},
    "npmBasic": {"type": "http", "scheme": "basic", "description": "user name and password"},
    "oidcToken": {"type": "http", "scheme": "bearer", "description": "an OIDC identity token"},
    "tlogWriter": {"type": "http", "scheme": "bearer", "description": "tlog_writer_secret"},
    "ciRequestToken": {"type": "http", "scheme": "bearer", "description": "a CI request token"},
    "registrationSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "the instance's CI job registration secret",
    },
}


def document(
    origin: str | None = None, version: str = "0.1.0", *, mirror: bool = False
) -> dict[str, Any]:
    """The instance's OpenAPI document; ``origin`` becomes its one server. ``mirror``: the
    instance has uplinks, so the mirror's operator routes are mounted and documented."""
    paths: Paths = {}
    parts = (*PARTS[:-1], lambda: _mirror("/-/mirror"), PARTS[-1]) if mirror else PARTS
    for part in parts:
        for path, operations in part().items():
            if path in paths:
                raise ValueError(f"two parts of the OpenAPI document describe {path}")
            for method, operation in operations.items():
                _unrouted(path, method, operation)
            paths[path] = operations
    result: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Assay",
            "version": version,
            "description": "An npm registry with Sigstore provenance and its trust services: "
            "the registry at the origin, the OIDC issuer at /-/oidc, the CA at /-/ca (and "
            "/api/v2), the log at /-/tlog, the trust files at /-/trust, the pages at /-/web.",
        },
        "paths": paths,
        "components": {"securitySchemes": dict(SECURITY_SCHEMES)},
    }
    if origin:
        result["servers"] = [{"url": origin}]
    return result
