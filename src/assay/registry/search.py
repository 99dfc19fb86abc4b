"""``npm search``: ``GET /-/v1/search?text=&size=&from=`` in registry.npmjs.org's shape.

libnpmsearch streams ``objects.*`` and reads ``package.{name, version, description, keywords,
date, links, publisher, maintainers}``; npm's formatter prints ``maintainers[].username`` and
``publisher.username`` (npm ``lib/utils/format-search-stream.js``). Scores are constant: this
registry has no popularity or quality data, and inventing some would mislead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.errors import FormatError
from assay.limits import SEARCH_MAX_FROM, SEARCH_MAX_TEXT_CHARS, SEARCH_MAX_WORDS, parse_int
from assay.registry.errors import BadRequest

DEFAULT_SIZE = 20
MAX_SIZE = 250  # npmjs.org's limit for `size`


@dataclass(frozen=True, slots=True)
class SearchQuery:
    words: tuple[str, ...]
    size: int
    offset: int

    @classmethod
    def parse(cls, text: str | None, size: str | None, offset: str | None) -> SearchQuery:
        """400 beyond the bounds of assay.limits: at most :data:`SEARCH_MAX_WORDS` words in
        :data:`SEARCH_MAX_TEXT_CHARS` characters (every word is a condition of the query), a
        ``size`` of 1 to :data:`MAX_SIZE`, a ``from`` of at most :data:`SEARCH_MAX_FROM`."""
        text = text or ""
        if len(text) > SEARCH_MAX_TEXT_CHARS:
            raise BadRequest(f"The search text may be at most {SEARCH_MAX_TEXT_CHARS} characters")
        words = tuple(w for w in text.split() if w)
        if len(words) > SEARCH_MAX_WORDS:
            raise BadRequest(f"A search may have at most {SEARCH_MAX_WORDS} words")
        try:
            size_value = (
                DEFAULT_SIZE if size in (None, "") else parse_int(size, "size", maximum=MAX_SIZE)
            )
            offset_value = (
                0 if offset in (None, "") else parse_int(offset, "from", maximum=SEARCH_MAX_FROM)
            )
        except FormatError as exc:
            raise BadRequest(exc.message) from exc
        if size_value < 1:
            raise BadRequest(f"size must be an integer between 1 and {MAX_SIZE}")
        return cls(words, size_value, offset_value)


def search_object(packument: dict[str, Any], origin: str) -> dict[str, Any]:
    """One ``objects[]`` entry from a package's full packument."""
    name = packument["name"]
    latest = packument["dist-tags"].get("latest") or next(reversed(packument["versions"]))
    manifest = packument["versions"].get(latest, {})
    publisher = manifest.get("_npmUser") or {}
    links: dict[str, str] = {"npm": f"{origin}/-/web/package/{name}"}
    if isinstance(manifest.get("homepage"), str):
        links["homepage"] = manifest["homepage"]
    repository = manifest.get("repository")
    if isinstance(repository, dict) and isinstance(repository.get("url"), str):
        links["repository"] = repository["url"]
    elif isinstance(repository, str):
        links["repository"] = repository
    bugs = manifest.get("bugs")
    if isinstance(bugs, dict) and isinstance(bugs.get("url"), str):
        links["bugs"] = bugs["url"]
    package: dict[str, Any] = {
        "name": name,
        "scope": name[1:].split("/", 1)[0] if name.startswith("@") else "unscoped",
        "version": latest,
        "description": manifest.get("description", ""),
        "keywords": manifest.get("keywords", []),
        "date": packument["time"].get(latest, packument["time"]["modified"]),
        "links": links,
        "publisher": {"username": publisher.get("name", ""), "email": publisher.get("email", "")},
        "maintainers": [
            {"username": m["name"], "email": m["email"]} for m in packument["maintainers"]
        ],
    }
    if "author" in manifest:
        package["author"] = manifest["author"]
    return {
        "package": package,
        "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
        "searchScore": 1.0,
    }
