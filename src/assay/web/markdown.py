"""READMEs: Markdown rendered to HTML, then sanitized with an allow-list.

A README is whatever the publisher put in the tarball, so it is hostile input shown on our
origin. markdown-it-py renders CommonMark (plus tables and strikethrough, as npm's renderer
does) with raw HTML enabled — READMEs rely on ``<details>``, ``<img width>``, ``<br>`` — and
nh3 (ammonia) then keeps only what is on the lists below:

* tags: text structure, lists, tables, code, links, headings from ``<h3>`` down; never
  ``script``, ``style``, ``iframe``, ``object``, ``form``, ``svg``/``math``, ``img`` or anything
  else that runs code, loads something or changes the page around it (the content of script,
  style and the like is dropped, not shown as text);
* attributes: a few per tag (``href``, ``title``, table spans, ``open``); no
  ``style``, ``class``, ``id`` or ``on*`` event handlers;
* URLs: absolute ``http``, ``https`` and ``mailto`` only, so ``javascript:``, ``data:``,
  ``vbscript:`` and relative or scheme-relative URLs (which would resolve against the registry
  origin) lose their ``href``; every link gets ``rel="nofollow noopener noreferrer"``.

Images are not loaded from other sites: a README image would let its author see every visitor
(npmjs.org proxies them; we have no proxy), and the pages load nothing from elsewhere. A Markdown
image becomes a link to it ("Image: <alt>"); a raw ``<img>`` is dropped. The page's
Content-Security-Policy (web/app.py, ``img-src 'self'``) is the second line of defence.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
        "dt", "em", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li",
        "ol", "p", "pre", "q", "s", "samp", "span", "strike", "strong", "sub", "summary",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: Final[dict[str, set[str]]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "details": {"open"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
HEADING_SHIFT: Final = 2
URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "nofollow noopener noreferrer"
# Dropped together with their content (the rest of the unknown tags keep their text).
DROP_WITH_CONTENT: Final = frozenset({"script", "style", "template", "noscript", "iframe"})


def _image_as_link(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """A Markdown image as a link to it, so that viewing the page fetches nothing elsewhere."""
    token = tokens[index]
    alt = renderer.renderInlineAsText(token.children or [], options, env) or "image"
    src = str(token.attrGet("src") or "")
    return f'<a href="{escape(src)}">Image: {escape(alt)}</a>'


_MARKDOWN: Final = (
    MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    .enable("table")
    .enable("strikethrough")
)
_MARKDOWN.add_render_rule("image", _image_as_link)


def sanitize(html: str) -> str:
    """``html`` with everything off the allow-lists removed."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render(markdown: str) -> str:
    """A README as safe HTML (an empty string for an empty README).

    Headings move down two levels (``#`` becomes ``<h3>``): the page has its own ``<h1>`` (the
    package name) and ``<h2>`` ("README"), and a document has one outline. Raw ``<h1>``/``<h2>``
    in the README lose their tag and keep their text.
    """
    if not markdown.strip():
        return ""
    env: dict[str, object] = {}
    tokens = _MARKDOWN.parse(markdown, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + HEADING_SHIFT, 6)}"
    return sanitize(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env))
