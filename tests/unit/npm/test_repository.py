"""`assay.npm.hosted.normalise_repository`: the one rule for what repository a value names."""

from __future__ import annotations

import pytest

from assay.npm.hosted import normalise_repository, repository_field


@pytest.mark.parametrize(
    "value",
    [
        "https://github.com/acme/x",
        "git+https://github.com/acme/x.git",
        "git://github.com/acme/x.git",
        "git+ssh://git@github.com/acme/x.git#v1",
        "git@github.com:acme/x.git",
        "http://github.com/acme/x",
        "github.com/acme/x/",
        "github:acme/x",
        "acme/x",
        " acme/x ",
    ],
)
def test_every_form_npm_accepts_names_one_page(value: str) -> None:
    assert normalise_repository(value) == "https://github.com/acme/x"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("gitlab:group/sub/proj", "https://gitlab.com/group/sub/proj"),
        ("bitbucket:team/repo", "https://bitbucket.org/team/repo"),
        ("git+https://git.example.com/team/pkg.git", "https://git.example.com/team/pkg"),
        ("git.example.com:8080/team/pkg", "https://git.example.com:8080/team/pkg"),
        ("https://github.com/Acme/X", "https://github.com/Acme/X"),  # case is the caller's
        ("github.com/acme/*", "https://github.com/acme/*"),  # audit policy patterns
        ("javascript:alert(1)//", "javascript:alert(1)"),  # never becomes an https link
    ],
)
def test_other_hosts_by_the_textual_rule(value: str, url: str) -> None:
    assert normalise_repository(value) == url


def test_repository_field() -> None:
    assert repository_field({"type": "git", "url": " acme/x "}) == "acme/x"
    assert repository_field("acme/x") == "acme/x"
    for absent in (None, "", "  ", {"type": "git"}, {"url": 3}, 3):
        assert repository_field(absent) is None
