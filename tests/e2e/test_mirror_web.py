"""The page of a mirrored package in a real browser (Playwright, the system Chromium).

`assay up` mirrors the stand-in for registry.npmjs.org (tests/npmjs_fake.py: real npm
signatures and public-good attestations). A person who opens ``/sigstore`` at the mirror sees
where the package comes from, every upstream version with the mirror's verdict — 0.9.0 held
back, with the reason — and the provenance facts the mirror verified on ingest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.assay_up import Instance
from tests.e2e.test_web_pages import Watched, browser, playwright, watched
from tests.mirrored import mirror_of
from tests.npmjs_fake import FakeNpmjs

__all__ = ["browser", "playwright", "watched"]  # the browser fixtures, shared


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with mirror_of(
        tmp_path_factory.mktemp("mirror-web"), FakeNpmjs(),
        lambda url: f'[uplinks.npmjs]\nurl = "{url}/"\ntrust = "npmjs"\n\n'
        '[packages."**"]\nproxy = "npmjs"\n',
    ) as instance:  # fmt: skip
        assert httpx.get(f"{instance.url}/sigstore", timeout=60).status_code == 200
        yield instance


def test_the_verdicts_and_the_facts_verified_on_ingest(
    mirror: Instance, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(f"{mirror.url}/sigstore")  # a browser at the package's path lands on its page
    assert page.url == f"{mirror.url}/-/web/package/sigstore"
    panel = page.get_by_role("region", name="Mirrored from npmjs")
    assert panel.is_visible()
    assert "Verified on ingest" in panel.get_by_test_id("mirror-shown-verdict").inner_text()
    verdicts = panel.get_by_test_id("mirror-verdicts")
    held = verdicts.locator('tr[data-version="0.9.0"]')
    assert "Held back" in held.inner_text()
    assert "EINTEGRITYSIGNATURE" in held.get_by_test_id("held-reason").inner_text()
    served = verdicts.locator('tr[data-version="1.0.0"]')
    assert "Served" in served.inner_text()
    assert served.get_by_role("link", name="1.0.0").is_visible()

    provenance = page.get_by_test_id("provenance-panel")
    assert "Built and signed on GitHub Actions" in provenance.inner_text()
    assert (
        page.get_by_test_id("source-repository").inner_text() == "github.com/sigstore/sigstore-js"
    )
    assert (
        page.get_by_test_id("verified-at-publish")
        .inner_text()
        .startswith("Yes: this registry's mirror checked")
    )
    page.screenshot(path=tmp_path / "mirrored-package.png", full_page=True)
    # Nothing but the mirror's own origin was asked for, and no script ran.
    assert all(url.startswith(mirror.url) for url in watched.requests), watched.requests
    assert watched.dialogs == []
