"""`assay up` as a mirror, for the tests (and bench/mirror.py) that need one.

Every mirror here is configured the way an operator does it: an ``uplinks.toml`` named by
``ASSAY_UPLINKS_FILE`` (docs/mirror.md), and its own ``ASSAY_TRUST_DIR`` so that the
public-good trusted root it may fetch never comes from, or lands in, the user's cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from starlette.types import ASGIApp

from tests.assay_up import Instance, running_instance
from tests.servers import serve_app


class Upstream(Protocol):
    """A stand-in registry served in-process (tests/static_upstream.py, tests/npmjs_fake.py):
    its app, and the URL it is served at, which it writes into its packuments."""

    url: str

    def app(self) -> ASGIApp: ...


@contextmanager
def mirror_instance(
    root: Path, uplinks: str, env: Mapping[str, str] | None = None
) -> Iterator[Instance]:
    """`assay up` under ``root`` with ``uplinks`` as its uplinks.toml and ``env`` besides."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "uplinks.toml").write_text(uplinks)
    (root / "trust").mkdir()
    settings = {
        "ASSAY_UPLINKS_FILE": str(root / "uplinks.toml"),
        "ASSAY_TRUST_DIR": str(root / "trust"),
        **(env or {}),
    }
    with running_instance(root, env=settings) as instance:
        yield instance


@contextmanager
def mirror_of(
    root: Path,
    upstream: Upstream,
    uplinks: Callable[[str], str],
    env: Mapping[str, str] | None = None,
) -> Iterator[Instance]:
    """``upstream`` served on loopback and a :func:`mirror_instance` of it; ``uplinks`` makes
    the uplinks.toml from the upstream's URL."""
    with serve_app(upstream.app()) as url:
        upstream.url = url
        with mirror_instance(root, uplinks(url), env) as instance:
            yield instance
