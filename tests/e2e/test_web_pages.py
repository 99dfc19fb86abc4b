"""The web pages in a real browser: Playwright drives the system Chromium against `assay up`.

One instance for the module, seeded the way users fill a registry: `widget@1.0.0` published with
provenance from an emulated GitHub Actions job (`assay publish --provenance`), `plain@1.0.0`
with the real npm client and a hostile README, and `widget@1.1.0` without provenance (a
downgrade). The tests then read the pages as a person does — home, search, the package, its
badge and commit link, the provenance detail, the log entry — and check what the issue asks of
them: hostile README content neutralized, no external resources, landmarks and labels, contrast,
a layout that fits a phone, and pages that work with JavaScript turned off.

Screenshots go to ``$ASSAY_SCREENSHOTS`` (default: a pytest temporary directory); with
``ASSAY_UPDATE_DOCS_SCREENSHOTS=1`` the package page also replaces
``docs/screenshots/package-provenance.png``, the one the README shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from assay.provenance.bundle import Bundle
from tests.assay_up import Instance, running_instance
from tests.e2e.test_audit import allow_downgrade
from tests.e2e.test_npm_registry import Npm
from tests.interop.test_sign import assay, job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPOSITORY = "acme/widget"
WORKFLOW = ".github/workflows/release.yml"
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "package-provenance.png"
HOSTILE_README = """# plain

Nothing to see.

<script>alert("script tag")</script>
<img src="https://example.invalid/x.png" onerror="alert('onerror')">
<a href="javascript:alert('javascript link')">javascript link</a>
[markdown javascript link](javascript:alert('md'))
<a href="jav&#x61;script:alert('entity')">entity link</a>
![data image](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)
<a href="data:text/html,<script>alert('data')</script>">data link</a>
<div style="position:fixed;inset:0;background:red" onclick="alert('div')">overlay</div>
<iframe src="https://example.invalid"></iframe>
<form action="https://example.invalid/steal"><input name="password"></form>
<svg onload="alert('svg')"></svg>
<style>body { display: none }</style>

[a fine link](https://example.com/docs)
"""


@dataclass(frozen=True)
class Seeded:
    instance: Instance
    commit: str
    san: str
    shots: Path

    @property
    def url(self) -> str:
        return self.instance.url

    def web(self, path: str = "/") -> str:
        return f"{self.instance.url}/-/web{path}"


def _package(root: Path, name: str, version: str, readme: str, **fields: Any) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "license": "MIT", **fields}
    (folder / "package.json").write_text(json.dumps(manifest))
    (folder / "index.js").write_text(f"module.exports = {version!r};\n")
    (folder / "README.md").write_text(readme)
    return folder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("web")
    shots = Path(os.environ.get("ASSAY_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with running_instance(root / "instance") as instance:
        token = (instance.data / "admin.token").read_text().strip()
        host = urlsplit(instance.url).netloc
        home = root / "home"
        home.mkdir()
        (home / ".npmrc").write_text(f"registry={instance.url}/\n//{host}/:_authToken={token}\n")
        repository = f"git+https://github.com/{REPOSITORY}.git"
        readme = (
            "# widget\n\nWidgets, **built in CI** with provenance.\n\n"
            "```js\nconst widget = require('widget')\n```\n"
        )
        keywords = ["widget", "provenance"]

        job = ci_job(instance, "github", f"repository={REPOSITORY}", "ref=refs/tags/v1.0.0")
        widget = _package(root, "widget", "1.0.0", readme, repository=repository,
                          description="Widgets built in CI", keywords=keywords)  # fmt: skip
        done = assay("publish", str(widget), "--provenance", "--access", "public",
                     env=job_env(job, home))  # fmt: skip
        assert done.returncode == 0, done.stderr

        npm = Npm(f"{instance.url}/", root / "npm")
        npm.userconfig.write_text(f"//{host}/:_authToken={token}\n")
        plain = _package(root, "plain", "1.0.0", HOSTILE_README, description="No provenance")
        npm.run("publish", cwd=plain)

        allow_downgrade(instance, "widget")  # 1.1.0 has no provenance: a downgrade
        later = _package(root, "widget", "1.1.0", readme, repository=repository,
                         description="Widgets built in CI", keywords=keywords)  # fmt: skip
        done = assay("publish", str(later), env=job_env({}, home))
        assert done.returncode == 0, done.stderr

        san = f"https://github.com/{REPOSITORY}/{WORKFLOW}@refs/tags/v1.0.0"
        yield Seeded(instance, job["GITHUB_SHA"], san, shots)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class Watched:
    """A page with everything it requested and every dialog a script opened."""

    page: Page
    requests: list[str]
    dialogs: list[str]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    result = Watched(page, [], [])
    page.on("request", lambda request: result.requests.append(request.url))

    def on_dialog(dialog: Any) -> None:
        result.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield result
    finally:
        context.close()


# --- a person's path through the pages ----------------------------------------------------------


def test_home_search_and_package(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    # A browser at the registry's origin lands on the home page.
    page.goto(f"{seeded.url}/")
    assert page.url == seeded.web("/")
    recent = page.get_by_role("region", name="Recently published")
    assert recent.get_by_role("link", name="widget").is_visible()
    assert recent.get_by_role("link", name="plain").is_visible()
    page.screenshot(path=seeded.shots / "home.png", full_page=True)

    page.get_by_role("main").get_by_label("Search packages").fill("widget")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/-/web/search\?q=widget$"))
    assert page.get_by_role("status").inner_text() == "1 package found for widget."
    page.screenshot(path=seeded.shots / "search.png", full_page=True)
    page.get_by_role("link", name="widget", exact=True).click()
    page.wait_for_url(seeded.web("/package/widget"))
    assert page.get_by_role("heading", level=1).inner_text() == "widget"


def test_package_page_shows_the_provenance_panel(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{seeded.url}/widget/1.0.0")  # npm's path, from a browser
    assert page.url == seeded.web("/package/widget/v/1.0.0")
    panel = page.get_by_test_id("provenance-panel")
    # Signed through this instance's CI emulation: said so, never "GitHub Actions" (issue 10).
    assert panel.get_by_test_id("provenance-badge").inner_text() == (
        "✓ Built and signed on emulated CI of this instance"
    )
    commit = panel.get_by_test_id("source-commit")
    assert commit.inner_text() == seeded.commit
    expected = f"https://github.com/{REPOSITORY}/tree/{seeded.commit}"
    assert commit.get_attribute("href") == expected
    assert panel.get_by_test_id("source-repository").inner_text() == f"github.com/{REPOSITORY}"
    build_file = panel.get_by_test_id("build-file").get_by_role("link")
    assert build_file.inner_text() == WORKFLOW
    assert build_file.get_attribute("href") == (
        f"https://github.com/{REPOSITORY}/blob/{seeded.commit}/{WORKFLOW}"
    )
    # The emulated job's run URI names no real run: text, not a "View build summary" link.
    assert panel.get_by_test_id("build-summary").count() == 0
    run = panel.get_by_test_id("run").inner_text()
    assert re.fullmatch(rf"https://github.com/{REPOSITORY}/actions/runs/\d+/attempts/1", run)
    assert panel.get_by_test_id("verified-at-publish").inner_text().startswith("Yes")
    assert page.get_by_test_id("install-command").inner_text() == "npm install widget@1.0.0"
    assert page.get_by_test_id("install-registry").inner_text() == f"--registry={seeded.url}/"
    versions = page.get_by_test_id("versions")
    assert "✓ Provenance" in versions.get_by_role("row", name=re.compile("^1.0.0")).inner_text()
    assert "Downgrade" in versions.get_by_role("row", name=re.compile("^1.1.0")).inner_text()
    assert page.get_by_test_id("maintainers").inner_text() == "admin"
    page.screenshot(path=seeded.shots / "package-provenance.png", full_page=True)
    if os.environ.get("ASSAY_UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1100, "height": 900})
        page.screenshot(path=DOCS_SCREENSHOT, full_page=False)


def test_an_emulated_ci_version_says_so(seeded: Seeded, watched: Watched) -> None:
    """Issue 10 §3: a version signed through the instance's emulated CI, whose certificate
    names a github.com repository and run, is labelled as emulated on both pages, and
    nothing on them calls it "GitHub Actions"."""
    page = watched.page
    page.goto(seeded.web("/package/widget/v/1.0.0"))
    panel = page.get_by_test_id("provenance-panel")
    assert "emulated CI of this instance" in panel.get_by_test_id("provenance-badge").inner_text()
    assert panel.get_by_test_id("emulated-ci").is_visible()
    assert panel.get_by_test_id("oidc-issuer").inner_text() == f"{seeded.url}/-/oidc"
    assert "GitHub Actions" not in page.locator("main").inner_text()

    page.get_by_test_id("provenance-details").click()
    page.wait_for_url(seeded.web("/package/widget/v/1.0.0/provenance"))
    assert page.get_by_test_id("facts-ci").inner_text() == "emulated CI of this instance"
    assert page.get_by_test_id("facts-issuer").inner_text() == f"{seeded.url}/-/oidc"
    assert page.get_by_test_id("facts-commit").inner_text() == seeded.commit
    assert page.get_by_test_id("facts-ref").inner_text() == "refs/tags/v1.0.0"
    assert page.get_by_test_id("facts-build-file").inner_text() == WORKFLOW
    assert page.get_by_test_id("emulated-ci").is_visible()
    # The builder's statement is shown as its claim, and it agrees with the certificate.
    claims = page.get_by_role("region", name="What the builder claimed")
    assert (
        claims.get_by_test_id("claims-agree")
        .inner_text()
        .startswith("The statement agrees with the certificate on: repository, commit, ref")
    )
    assert "GitHub Actions" not in page.locator("main").inner_text()
    page.screenshot(path=seeded.shots / "provenance-emulated.png", full_page=True)


def test_provenance_detail_and_log_entry(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    page.goto(seeded.web("/package/widget/v/1.0.0"))
    page.get_by_test_id("provenance-details").click()
    page.wait_for_url(seeded.web("/package/widget/v/1.0.0/provenance"))
    assert page.get_by_test_id("certificate-san").inner_text() == seeded.san
    assert page.get_by_test_id("certificate-issuer").inner_text() == f"{seeded.url}/-/oidc"
    extensions = page.get_by_test_id("certificate-extensions")
    source = extensions.get_by_role("row", name=re.compile("^Source Repository URI"))
    assert source.inner_text().endswith(f"https://github.com/{REPOSITORY}")
    digest = extensions.get_by_role("row", name=re.compile("^Source Repository Digest"))
    assert digest.inner_text().endswith(seeded.commit)
    assert page.get_by_test_id("inclusion-status").inner_text() == "✓ Inclusion proof holds"
    statement = json.loads(page.get_by_test_id("statement-json").text_content() or "")
    assert statement["subject"][0]["name"] == "pkg:npm/widget@1.0.0"
    page.screenshot(path=seeded.shots / "provenance-detail.png", full_page=True)

    # The raw bundle downloads, and it is the one the registry serves to npm.
    with page.expect_download() as download_info:
        page.get_by_test_id("download-bundle").click()
    download = download_info.value
    assert download.suggested_filename == "widget-1.0.0.sigstore.json"
    downloaded = json.loads(Path(download.path()).read_text())
    served = httpx.get(f"{seeded.url}/-/npm/v1/attestations/widget@1.0.0").json()
    provenance = next(a for a in served["attestations"] if "slsa" in a["predicateType"])
    assert downloaded == provenance["bundle"]
    Bundle.from_dict(downloaded)

    index = page.get_by_test_id("log-index").inner_text()
    page.get_by_test_id("log-entry-link").click()
    page.wait_for_url(seeded.web(f"/log/entries/{index}"))
    assert page.get_by_test_id("entry-index").inner_text() == index
    assert page.get_by_test_id("inclusion-status").inner_text() == "✓ Inclusion proof holds"
    bundle_body = downloaded["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    leaf = hashlib.sha256(b"\x00" + base64.b64decode(bundle_body)).hexdigest()
    assert page.get_by_test_id("entry-uuid").inner_text() == leaf
    page.screenshot(path=seeded.shots / "log-entry.png", full_page=True)


def test_log_pages(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    page.goto(seeded.web("/log"))
    size = int(httpx.get(f"{seeded.url}/-/tlog/api/v1/log").json()["treeSize"])
    assert page.get_by_test_id("tree-size").inner_text() == str(size)
    checkpoint = page.get_by_test_id("checkpoint").text_content() or ""
    assert checkpoint.splitlines()[1] == str(size)
    page.screenshot(path=seeded.shots / "log.png", full_page=True)

    page.get_by_label("Entry by log index or UUID").fill("0")
    page.get_by_role("button", name="Show entry").click()
    page.wait_for_url(seeded.web("/log/entries/0"))
    uuid = page.get_by_test_id("entry-uuid").inner_text()
    page.goto(seeded.web("/log"))
    page.get_by_label("Entry by log index or UUID").fill(uuid)
    page.get_by_role("button", name="Show entry").click()
    page.wait_for_url(seeded.web(f"/log/entries/{uuid}"))
    assert page.get_by_test_id("entry-index").inner_text() == "0"

    page.goto(seeded.web("/log"))
    page.get_by_label("Entries of a package").fill("widget")
    page.get_by_role("button", name="Show entries").click()
    page.wait_for_url(seeded.web("/log/package/widget"))
    rows = page.get_by_test_id("package-entries").locator("tbody tr")
    texts = sorted(rows.all_inner_texts())
    assert len(texts) == 2  # the provenance and the registry's publish attestation of 1.0.0
    assert all(text.startswith("1.0.0") for text in texts)
    assert page.get_by_role("link", name="1.1.0").is_visible()  # listed as without entries

    for missing in ("/log/entries/999999", "/log/entries/" + "ab" * 32, "/package/nope"):
        response = page.goto(seeded.web(missing))
        assert response is not None
        assert response.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Not found"


def test_versions_without_provenance_are_marked(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    page.goto(seeded.web("/package/plain"))
    badge = page.get_by_test_id("provenance-panel").get_by_test_id("provenance-badge")
    assert badge.inner_text() == "No provenance"
    page.goto(seeded.web("/package/widget"))  # latest is 1.1.0, published without provenance
    assert page.get_by_test_id("shown-version").inner_text() == "1.1.0"
    badge = page.get_by_test_id("provenance-panel").get_by_test_id("provenance-badge")
    assert badge.inner_text() == "⚠ Provenance downgrade"
    page.screenshot(path=seeded.shots / "package-downgrade.png", full_page=True)


def test_package_page_shows_trusted_publishers_and_policy(seeded: Seeded, watched: Watched) -> None:
    token = (seeded.instance.data / "admin.token").read_text().strip()
    auth = {"authorization": f"Bearer {token}"}
    configs = [
        {"type": "github", "permissions": ["createPackage", "createStagedPackage"],
         "claims": {"repository": "acme/plain", "workflow_ref": {"file": "release.yml"},
                    "environment": "production"}},
        {"type": "gitlab", "permissions": ["createStagedPackage"],
         "claims": {"project_path": "team/plain", "ci_config_ref_uri": {"file": ".gitlab-ci.yml"},
                    "issuer": "https://gitlab.example.com"}},
    ]  # fmt: skip
    created = httpx.post(f"{seeded.url}/-/package/plain/trust", json=configs, headers=auth)
    assert created.status_code == 201, created.text
    policy = httpx.post(f"{seeded.url}/-/package/plain/policy", headers=auth,
                        json={"requireProvenance": True})  # fmt: skip
    assert policy.status_code == 200
    page = watched.page
    page.goto(seeded.web("/package/plain"))
    publishers = page.get_by_test_id("trusted-publishers")
    text = publishers.inner_text()
    for shown in ("GitHub Actions", "acme/plain", "release.yml", "production",
                  "publish, stage publish", "GitLab CI/CD", "gitlab.example.com/team/plain",
                  ".gitlab-ci.yml"):  # fmt: skip
        assert shown in text, text
    assert token not in page.content()
    rules = page.get_by_test_id("publish-policy").inner_text()
    assert "Provenance required" in rules
    assert "No provenance downgrade" in rules
    page.screenshot(path=seeded.shots / "package-trusted-publishers.png", full_page=True)
    # A package with none says so.
    page.goto(seeded.web("/package/widget"))
    assert "No trusted publishers" in page.get_by_test_id("trusted-publishers").inner_text()
    assert "Provenance downgrade allowed" in page.get_by_test_id("publish-policy").inner_text()
    for created_config in created.json():
        removed = httpx.delete(
            f"{seeded.url}/-/package/plain/trust/{created_config['id']}", headers=auth
        )
        assert removed.status_code == 204
    httpx.post(f"{seeded.url}/-/package/plain/policy", headers=auth,
               json={"requireProvenance": False})  # fmt: skip


def test_hostile_readme_is_neutralized(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    page.goto(seeded.web("/package/plain"))
    readme = page.get_by_test_id("readme")
    assert readme.get_by_role("heading", name="plain").is_visible()
    assert readme.get_by_role("link", name="a fine link").get_attribute("href") == (
        "https://example.com/docs"
    )
    found: dict[str, Any] = page.evaluate(
        """() => {
            const readme = document.querySelector('[data-testid=readme]');
            const all = [...readme.querySelectorAll('*')];
            return {
                tags: [...new Set(all.map(e => e.localName))],
                handlers: all.flatMap(e => [...e.attributes].map(a => a.name))
                    .filter(n => n.startsWith('on') || n === 'style'),
                urls: all.flatMap(e => ['href', 'src', 'action']
                    .filter(n => e.hasAttribute(n)).map(n => e.getAttribute(n))),
                scripts: document.scripts.length,
                visible: getComputedStyle(document.body).display,
            };
        }"""
    )
    assert set(found["tags"]).isdisjoint({"script", "iframe", "form", "input", "svg", "style"})
    assert found["handlers"] == []
    assert all(re.match(r"^(https?:|mailto:)", url) for url in found["urls"]), found["urls"]
    assert found["scripts"] == 0
    assert found["visible"] == "block"
    # Neutralized links lost their href, so they are text now (no "link" role); click anyway.
    assert readme.get_by_role("link", name="javascript link").count() == 0
    readme.get_by_text("javascript link", exact=True).click()
    readme.get_by_text("entity link", exact=True).click()
    readme.get_by_text("overlay").click()
    assert watched.dialogs == []
    assert page.url == seeded.web("/package/plain")
    page.screenshot(path=seeded.shots / "package-hostile-readme.png", full_page=True)


# --- what every page must be ------------------------------------------------------------------

PAGES = [
    "/",
    "/search?q=widget",
    "/package/widget",
    "/package/widget/v/1.0.0",
    "/package/widget/v/1.0.0/provenance",
    "/package/plain",
    "/log",
    "/log/entries/0",
    "/log/package/widget",
]

# WCAG 2.1 relative luminance and contrast of text against its first opaque background.
CONTRAST = """(selectors) => {
    const parse = c => c.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => {
        const f = v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = e => {
        for (; e; e = e.parentElement) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c;
        }
        return [255, 255, 255];
    };
    const out = [];
    for (const selector of selectors) {
        for (const e of document.querySelectorAll(selector)) {
            if (!e.textContent.trim()) continue;
            const a = lum(parse(getComputedStyle(e).color)), b = lum(background(e));
            out.push([selector, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
        }
    }
    return out;
}"""
TEXT = ["body", "a", "p", "dt", "dd", "th", "td", ".badge", ".meta", "button", "h1", "h2", "code"]


def test_every_page_is_self_contained_and_accessible(seeded: Seeded, watched: Watched) -> None:
    page = watched.page
    for path in PAGES:
        watched.requests.clear()
        response = page.goto(seeded.web(path))
        assert response is not None
        assert response.status == 200, path
        # No external resources: everything the page loaded came from this origin.
        assert watched.requests, path
        assert all(url.startswith(seeded.url + "/") for url in watched.requests), watched.requests
        assert "script-src" not in (response.headers.get("content-security-policy") or "")
        assert "default-src 'none'" in (response.headers.get("content-security-policy") or "")
        # Landmarks, a language, a title, labels.
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.title().endswith("· Assay registry")
        for role in ("banner", "main", "contentinfo", "search"):
            assert page.get_by_role(role).count() >= 1, (path, role)
        assert page.get_by_role("navigation", name="Site").count() == 1
        assert page.get_by_role("heading", level=1).count() == 1, path
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML)"""
        )
        assert unlabelled == [], path
        images = page.evaluate("() => [...document.images].filter(i => !i.hasAttribute('alt'))")
        assert images == [], path
        # Contrast: WCAG AA, 4.5:1 for all text we style.
        low = [(s, round(r, 2)) for s, r in page.evaluate(CONTRAST, TEXT) if r < 4.5]
        assert low == [], (path, low)
        # The favicon is ours, an SVG.
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert icon == "/-/web/static/favicon.svg"
    favicon = httpx.get(f"{seeded.url}/-/web/static/favicon.svg")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"].startswith("image/svg+xml")
    legacy = httpx.get(f"{seeded.url}/favicon.ico", follow_redirects=True)
    assert legacy.headers["content-type"].startswith("image/svg+xml")


def test_pages_fit_a_phone(seeded: Seeded, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        page = context.new_page()
        for path in PAGES:
            page.goto(seeded.web(path))
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (path, overflow)
        page.goto(seeded.web("/package/widget/v/1.0.0"))
        page.screenshot(path=seeded.shots / "package-phone.png", full_page=True)
    finally:
        context.close()


def test_pages_work_without_javascript(seeded: Seeded, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(seeded.web("/"))
        page.get_by_role("banner").get_by_label("Search packages").fill("plain")
        page.get_by_role("banner").get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(r".*/-/web/search\?q=plain$"))
        page.get_by_role("link", name="plain", exact=True).click()
        page.wait_for_url(seeded.web("/package/plain"))
        page.get_by_role("navigation", name="Site").get_by_role(
            "link", name="Transparency log"
        ).click()
        page.get_by_label("Entry by log index or UUID").fill("1")
        page.get_by_role("button", name="Show entry").click()
        page.wait_for_url(seeded.web("/log/entries/1"))
    finally:
        context.close()


def test_npm_still_gets_json_at_the_same_paths(seeded: Seeded) -> None:
    corgi = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
    for accept in ("application/json", corgi, "*/*"):
        response = httpx.get(f"{seeded.url}/widget", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.json()["name"] == "widget"
        version = httpx.get(f"{seeded.url}/widget/1.0.0", headers={"Accept": accept})
        assert version.json()["dist"]["attestations"]["provenance"]
    npm = Npm(f"{seeded.url}/", seeded.shots.parent / "npm-view")
    view = npm.json("view", "widget@1.0.0", "name")
    assert view == "widget"
