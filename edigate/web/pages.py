"""The gateway's server-rendered pages (today `/routes`), in the site's one layout.

The layout (header, navigation, who is logged in) is the outage procedure's `base.html`, and the gateway must
not import notify. So the composition root (`edigate/app.py`) hands the gateway a :class:`SiteLayout`: a
template loader that finds `base.html`, and a function that tells who is looking at a page (the navigation
shows the desk's links to a logged-in desk; anonymous without `[notify]`). The gateway's own templates
(`edigate/web/templates/`) extend `base.html` and fill its blocks `title`, `head` and `main`, so the
navigation is written once and every page looks and navigates alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from edigate.health import pending_text

__all__ = ["TEMPLATES", "Pages", "SiteLayout", "Visitor", "anonymous"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: the variables `base.html` uses for the visitor: `actor` (None: not logged in), `who`, `csrf`, and what the
#: logged-in navigation links to (notify's `Web.visitor` supplies them all)
Visitor = Callable[[web.Request], Mapping[str, Any]]


def anonymous(_request: web.Request) -> Mapping[str, Any]:
    """The visitor when no login exists (no `[notify]`): the public navigation (base.html reads nothing else
    when `actor` is None)."""
    return {"actor": None, "who": "", "csrf": ""}


@dataclass(frozen=True)
class SiteLayout:
    """The site's layout as the composition root wires it: where `base.html` is, and who is looking."""

    loader: jinja2.BaseLoader
    visitor: Visitor = anonymous


class Pages:
    """Renders the gateway's templates inside the site's layout (autoescaped; unknown names are errors)."""

    def __init__(self, layout: SiteLayout) -> None:
        self.visitor = layout.visitor
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)), layout.loader]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["pending"] = pending_text  # a capped count reads "over 1000", as in the alert mails

    def render(self, request: web.Request, template: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(template).render({**self.visitor(request), **context})

    def response(self, request: web.Request, template: str, context: Mapping[str, Any]) -> web.Response:
        html = self.render(request, template, context)
        return web.Response(text=html, content_type="text/html", charset="utf-8")
