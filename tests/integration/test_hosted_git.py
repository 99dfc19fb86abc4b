"""`assay.npm.hosted` against hosted-git-info itself (the copy bundled with npm)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from assay.npm.hosted import from_url

pytestmark = pytest.mark.npm

INPUTS = [
    "acme/widget",
    "acme/widget#v1.2.3",
    "github:acme/widget",
    "github:Acme/Widget#main",
    "gitlab:group/sub/project",
    "bitbucket:team/repo",
    "https://github.com/acme/widget",
    "https://github.com/acme/widget.git",
    "https://www.github.com/acme/widget",
    "git+https://github.com/acme/widget.git",
    "git+https://user:pw@github.com/acme/widget.git#abc",
    "git://github.com/acme/widget.git",
    "git+ssh://git@github.com/acme/widget.git",
    "ssh://git@github.com/acme/widget.git",
    "git@github.com:acme/widget.git",
    "git@gitlab.com:group/sub/project.git",
    "https://gitlab.com/group/sub/project.git",
    "https://gitlab.com/group/project/-/tree/main",
    "https://bitbucket.org/team/repo",
    "https://github.com/acme/widget/tree/dev",
    "https://github.com/acme/widget/blob/main/x.js",
    "https://example.com/acme/widget.git",
    "git+https://git.example.org/acme/widget.git",
    "^1.2.3",
    "1.0.0",
    "latest",
    "file:../x",
    "./acme/widget",
    "@scope/pkg",
    "npm:other@1",
]

NODE = """
const hgi = require(process.argv[1]);
const out = JSON.parse(process.argv[2]).map(u => {
  const h = hgi.fromUrl(u);
  return h ? [h.toString(), h.https(), h.bugs(), h.docs(), h.getDefaultRepresentation()] : null;
});
console.log(JSON.stringify(out));
"""


def test_same_answers_as_hosted_git_info() -> None:
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        pytest.fail("npm and node must be on PATH")
    module = Path(npm).resolve().parents[1] / "node_modules" / "hosted-git-info"
    done = subprocess.run(
        [node, "-e", NODE, str(module), json.dumps(INPUTS)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    expected = json.loads(done.stdout)
    for url, answer in zip(INPUTS, expected, strict=True):
        hosted = from_url(url)
        ours = (
            None
            if hosted is None
            else [str(hosted), hosted.https(), hosted.bugs(), hosted.docs(), hosted.default]
        )
        assert ours == answer, url
