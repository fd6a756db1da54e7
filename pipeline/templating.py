"""The HTML of every server-rendered page, from Jinja2 templates in ``pipeline/templates/``.

One environment (autoescaping on) so pages share a skeleton (``page.html``) and no module builds
HTML by string concatenation: the portal (``portal/``), the upload form, validation reports and the
municipality's feedback all render through :func:`render`.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.contract.periods import QUARTER_PATTERN

ENV = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
ENV.globals["quarter_input_pattern"] = QUARTER_PATTERN.replace("Q", "[Qq]")  # forms accept 2025q3 too


def render(template: str, **context: object) -> str:
    return ENV.get_template(template).render(**context)
