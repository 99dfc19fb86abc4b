"""Pack a package directory into an npm tarball, as ``npm pack`` (npm 11) does.

Packing reads a directory, so it lives with the publisher, not in the pure provenance layer.
The pieces, each in the module named for it:

* **Which files** — :mod:`.packlist`, a port of npm-packlist 10 (``lib/index.js``) on top of
  ignore-walk 8, with patterns as minimatch 10 compiles them (:mod:`.minimatch`,
  :mod:`.braces`); ``main``, ``browser`` and the bins of package.json (:mod:`.package_json`)
  are always packed.
* **In which order** — npm-packlist sorts by extension, then basename, then path, each with
  ``localeCompare(…, 'en')``; :mod:`.collation` reproduces ICU's root collation. ``npm pack
  --json`` lists files in another order, see :meth:`PackResult.npm_json` (:mod:`.result`).
* **How the archive is written** — :mod:`.tar`, node-tar with pacote's options; modes
  ``(mode | 0o600) & ~0o022`` (node-tar ``modeFix``) and bins made executable (pacote
  ``isPackageBin``) are decided here. The uncompressed tar is byte-identical to npm's; the gzip
  bytes usually are not (Node bundles Chromium's zlib), so ``integrity``/``shasum`` differ from
  npm's for the same files.

Things npm does that we do not: run ``prepack``/``prepare``/``postpack`` scripts (``npm pack
--ignore-scripts`` is the equivalent), honour workspaces, follow a symlinked (``npm link``ed)
bundled dependency (we refuse it: following it could pack files from outside the package), pack
a file whose name is not UTF-8 (npm mangles it), iterate the characters of a string ``files``.
We also check what npm pack does not: the name (validate-npm-package-name rules) and the version
(SemVer 2.0), since a registry refuses anything else and the name becomes a file name.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from assay.publish.pack.package_json import is_package_bin, normalized_bins, read_manifest
from assay.publish.pack.packlist import packlist
from assay.publish.pack.result import PackedFile, PackResult, tarball_filename
from assay.publish.pack.tar import TarballWriter, read_regular_file

__all__ = ["PackResult", "PackedFile", "list_package_files", "pack_directory", "tarball_filename"]


def pack_directory(path: str | os.PathLike[str]) -> PackResult:
    """Pack the package in directory `path` the way ``npm pack --ignore-scripts`` does."""
    root = Path(path)
    manifest = read_manifest(root)
    relative_paths = packlist(root, manifest)
    bins = normalized_bins(root, manifest)
    files: list[PackedFile] = []
    writer = TarballWriter()
    for listed in relative_paths:
        clean = listed.removeprefix("./")
        data, st_mode = read_regular_file(root, clean)
        mode = st_mode & 0o7777
        if is_package_bin(bins, listed):
            mode |= 0o111
        mode = (mode | 0o600) & ~0o022  # node-tar modeFix, portable
        files.append(PackedFile(path=clean, size=len(data), mode=mode))
        writer.add("package/" + clean, mode, data)
    tarball = writer.finish()
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode("ascii")
    return PackResult(
        name=manifest["name"],
        version=manifest["version"],
        files=tuple(files),
        tarball=tarball,
        integrity=f"sha512-{digest}",
        shasum=hashlib.sha1(tarball, usedforsecurity=False).hexdigest(),
    )


def list_package_files(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The files ``npm pack`` would include, in npm-packlist's order (relative, ``/``-separated)."""
    root = Path(path)
    relative_paths = packlist(root, read_manifest(root))
    return tuple(p.removeprefix("./") for p in relative_paths)
