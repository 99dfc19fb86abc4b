"""READMEs: Markdown rendered to HTML, then sanitized with an allow-list.

A README is whatever the publisher put in the tarball, so it is hostile input shown on our
origin. markdown-it-py renders CommonMark (plus tables and strikethrough, as npm's renderer
does) with raw HTML enabled — READMEs rely on ``<details>``, ``<img width>``, ``<br>`` — and
nh3 (ammonia) then keeps only what is on the lists below:

* tags: text structure, lists, tables, code, images, links; never ``script``, ``style``,
  ``iframe``, ``object``, ``form``, ``svg``/``math`` or anything else that runs code or changes
  the page around it (their content is dropped, not shown as text, for script and style);
* attributes: a few per tag (``href``, ``src``, ``alt``, ``title``, sizes, table spans); no
  ``style``, ``class``, ``id`` or ``on*`` event handlers;
* URLs: absolute ``http``, ``https`` and ``mailto`` only, so ``javascript:``, ``data:``,
  ``vbscript:`` and relative or scheme-relative URLs (which would resolve against the registry
  origin) lose their ``href``/``src``; every link gets ``rel="nofollow noopener noreferrer"``.

The page's Content-Security-Policy (web/app.py) is the second line of defence.
"""

from __future__ import annotations

from typing import Final

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
        "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
        "ol", "p", "pre", "q", "s", "samp", "span", "strike", "strong", "sub", "summary",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: Final[dict[str, set[str]]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "details": {"open"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "nofollow noopener noreferrer"
# Dropped together with their content (the rest of the unknown tags keep their text).
DROP_WITH_CONTENT: Final = frozenset({"script", "style", "template", "noscript", "iframe"})

_MARKDOWN: Final = (
    MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    .enable("table")
    .enable("strikethrough")
)


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
    """A README as safe HTML (an empty string for an empty README)."""
    if not markdown.strip():
        return ""
    return sanitize(_MARKDOWN.render(markdown))
