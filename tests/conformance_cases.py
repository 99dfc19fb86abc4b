"""The vendored sigstore-conformance verification cases (tests/data/conformance/README.md).

Each :class:`Case` gives the ``verify-bundle`` arguments the harness would pass
(sigstore-conformance ``test/client.py`` ``build_verify_args``), in its order: ``--bundle``, then
``--key`` or ``--certificate-identity``/``--certificate-oidc-issuer``, then ``--trusted-root``
when the case has one, then the artifact path or its ``sha256:`` digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CASES_DIR: Final = Path(__file__).parent / "data" / "conformance" / "bundle-verify"
# sigstore-conformance test/client.py: the defaults when a case names no identity or issuer.
DEFAULT_IDENTITY: Final = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DEFAULT_ISSUER: Final = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Case:
    """One case directory."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def must_fail(self) -> bool:
        return self.name.endswith("_fail")

    @property
    def bundle(self) -> Path:
        return self.path / "bundle.sigstore.json"

    @property
    def artifact(self) -> Path:
        own = self.path / "artifact"
        return own if own.exists() else CASES_DIR / "a.txt"

    @property
    def key(self) -> Path | None:
        key = self.path / "key.pub"
        return key if key.exists() else None

    @property
    def trusted_root(self) -> Path | None:
        root = self.path / "trusted_root.json"
        return root if root.exists() else None

    @property
    def identity(self) -> str:
        own = self.path / "identity"
        return own.read_text().strip() if own.exists() else DEFAULT_IDENTITY

    @property
    def issuer(self) -> str:
        own = self.path / "issuer"
        return own.read_text().strip() if own.exists() else DEFAULT_ISSUER

    def verify_args(self, *, digest: bool) -> list[str]:
        """``verify-bundle`` and its arguments, as the harness orders them."""
        args = ["verify-bundle", "--bundle", str(self.bundle)]
        if self.key is not None:
            args += ["--key", str(self.key)]
        else:
            args += ["--certificate-identity", self.identity]
            args += ["--certificate-oidc-issuer", self.issuer]
        if self.trusted_root is not None:
            args += ["--trusted-root", str(self.trusted_root)]
        if digest:
            args.append("sha256:" + hashlib.sha256(self.artifact.read_bytes()).hexdigest())
        else:
            args.append(str(self.artifact))
        return args


def cases() -> list[Case]:
    """Every case, sorted by name."""
    return sorted(
        (Case(path) for path in CASES_DIR.iterdir() if (path / "bundle.sigstore.json").exists()),
        key=lambda case: case.name,
    )
