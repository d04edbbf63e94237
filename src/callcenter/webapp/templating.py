"""Jinja2 templates (autoescape always on) loaded from ``web/templates``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from callcenter.webapp import i18n

#: ``web/`` at the repository root (``src/callcenter/webapp/templating.py`` → ``web/``).
WEB_DIR = Path(__file__).resolve().parents[3] / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=True,  # every template, whatever its extension
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        # gettext through the request's language (webapp/i18n.py); new style: _("%(n)s calls", n=3)
        # formats and escapes its arguments
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
        )
        self.env.globals.update(
            current_language=i18n.current_language,
            current_path=i18n.current_path,
            tr=i18n.tr,
            localize=i18n.localize,
            enum_label=i18n.enum_label,
            tr_values=i18n.tr_values,
            catalogue_url=i18n.catalogue_url,
            language_names=i18n.language_names,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    def response(
        self,
        name: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        return web.Response(
            text=self.render(name, context),
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=headers,
        )
