"""Which requests at the origin are a browser's, sent to the pages; npm's never are."""

from __future__ import annotations

import pytest

from assay.web.app import browser_target, prefers_html

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# npm-registry-fetch: the full document, and the abbreviated one `npm install` asks for.
NPM_FULL = "application/json"
NPM_CORGI = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


@pytest.mark.parametrize("accept", [CHROME, FIREFOX, SAFARI, "text/html"])
def test_browsers_prefer_html(accept: str) -> None:
    assert prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        NPM_FULL,
        NPM_CORGI,
        "*/*",
        "",
        None,
        "application/json, text/html",
        "text/html;q=0.5, application/json",
        "text/html;q=0",
        "text/html;q=nonsense",
        "application/vnd.npm.install-v1+json",
    ],
)
def test_npm_and_tools_do_not(accept: str | None) -> None:
    assert not prefers_html(accept)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/", "/-/web/"),
        ("/widget", "/-/web/package/widget"),
        ("/@scope/widget", "/-/web/package/@scope/widget"),
        ("/widget/1.0.0", "/-/web/package/widget/v/1.0.0"),
        ("/widget/1.0.0+build", "/-/web/package/widget/v/1.0.0%2Bbuild"),
        ("/widget/latest", "/-/web/package/widget/v/latest"),
        ("/-/web", "/-/web/"),
        # Not pages: tarballs, revisions, npm's own paths, bad names.
        ("/widget/-/widget-1.0.0.tgz", None),
        ("/widget/-rev/3-abc", None),
        ("/-/v1/search", None),
        ("/-/npm/v1/attestations/widget@1.0.0", None),
        ("/../etc/passwd", None),
        ("/a/b/c", None),
    ],
)
def test_browser_targets(path: str, target: str | None) -> None:
    assert browser_target(path, CHROME) == target


@pytest.mark.parametrize("path", ["/", "/widget", "/@scope/widget", "/widget/1.0.0"])
@pytest.mark.parametrize("accept", [NPM_FULL, NPM_CORGI, "*/*", None])
def test_npm_requests_are_never_redirected(path: str, accept: str | None) -> None:
    assert browser_target(path, accept) is None


def test_favicon_for_everyone() -> None:
    assert (
        browser_target("/favicon.ico", "image/avif,image/webp,*/*") == "/-/web/static/favicon.svg"
    )
