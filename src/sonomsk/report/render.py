"""HTML and PDF reports from the registered sections (Jinja2 and WeasyPrint, never online).

The HTML is one self-contained file: CSS inline, pictures as ``data:`` URIs, fonts from the
system (DejaVu Sans). The PDF is made from the same HTML by WeasyPrint with a URL fetcher that
refuses every URL that is not a ``data:`` URI, so rendering can never reach the network.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sonomsk.core.errors import FormatWarning, InvalidParameterError, UnsupportedDataError
from sonomsk.report.results import StudyResults, as_results
from sonomsk.report.sections import RenderEnv, Section, registered_sections

#: CSS page sizes and screen widths of the papers a report can be printed on.
PAPERS = {"a4": ("A4", "184mm"), "letter": ("letter", "190mm")}


def _paper(paper: str) -> tuple[str, str]:
    try:
        return PAPERS[str(paper).lower()]
    except KeyError:
        raise InvalidParameterError(f"paper: expected one of {sorted(PAPERS)}, got {paper!r}") from None


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("sonomsk.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _prepare(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str], deidentify_key: str | None
) -> tuple[StudyResults, StudyResults]:
    """(results to show, original results for pixels)."""
    original = as_results(results)
    if deidentify_key is None:
        return original, original
    from sonomsk.report.deid import deidentify_results

    return deidentify_results(original, deidentify_key, keep_paths=False), original


def render_html(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    *,
    paper: str = "a4",
    deidentify_key: str | None = None,
    sections: Sequence[str] | None = None,
    title: str = "Ultrasound report",
) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    results
        The study RESULTS (object, dict or path to its JSON).
    paper
        ``a4`` or ``letter``: the printed page size (CSS ``@page``).
    deidentify_key
        When given, the patient and study header are pseudonymised with this key
        (:mod:`sonomsk.report.deid`); file paths and UIDs are not shown.
    sections
        Names of the sections to include (default: every registered section that applies).
    title
        The page title.
    """
    page_size, width = _paper(paper)
    shown, original = _prepare(results, deidentify_key)
    env = RenderEnv(paper=paper.lower(), deidentified=deidentify_key is not None, source=original)
    jinja = _environment()
    parts = []
    chosen = registered_sections()
    if sections is not None:
        known = {c.name for c in chosen}
        unknown = sorted(set(sections) - known)
        if unknown:
            raise InvalidParameterError(f"sections: unknown {unknown}; registered: {sorted(known)}")
        chosen = [c for c in chosen if c.name in sections]
    for cls in chosen:
        section = cls()
        if not section.applies(shown):
            continue
        parts.append({"name": section.name, "html": _render_section(jinja, section, shown, env)})
    footer = _css_text(
        f"sonomsk report · {shown.patient.id or 'no patient id'} · {shown.study.date or 'no date'}"
        f" · {shown.signoff.state.value}"
    )
    return str(
        jinja.get_template("base.html").render(
            title=title, sections=parts, page_size=page_size, body_width=width, footer=footer
        )
    )


def _render_section(jinja: Any, section: Section, results: StudyResults, env: RenderEnv) -> Any:
    """The section's HTML as markupsafe.Markup (already escaped by its template)."""
    from markupsafe import Markup

    try:
        ctx = section.context(results, env)
        template = (
            jinja.from_string(section.template)
            if "{{" in section.template or "{%" in section.template
            else jinja.get_template(section.template)
        )
        return Markup(template.render(section=section, ctx=ctx))
    except Exception as exc:  # a plug-in's failure must not lose the rest of the report
        msg = f"section {section.name!r} could not be rendered: {type(exc).__name__}: {exc}"
        warnings.warn(msg, FormatWarning, stacklevel=3)
        return Markup(
            jinja.from_string('<h2>{{ t }}</h2><p class="banner">{{ m }}</p>').render(t=section.title, m=msg)
        )


def _css_text(text: str) -> str:
    return re.sub(r'["\\\n\r]', " ", text)


def _check_offline(url: str) -> None:
    if not url.startswith("data:"):
        raise UnsupportedDataError(f"report: refusing to fetch {url[:80]!r} (reports never go online)")


def offline_url_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URIs only and refuses everything else."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 66: fetchers are plain functions
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            _check_offline(url)
            return default_url_fetcher(url)

        return fetch

    class _Offline(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            _check_offline(url)
            return super().fetch(url, headers)

    return _Offline(allowed_protocols=("data",), fail_on_errors=False)


def html_to_pdf(html: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html`` as PDF with the offline fetcher; returns the path."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - weasyprint is a dependency
        from sonomsk.core.errors import BackendUnavailableError

        raise BackendUnavailableError(f"PDF output needs weasyprint ({exc})") from None
    out = Path(path)
    HTML(string=html, url_fetcher=offline_url_fetcher(), base_url=None).write_pdf(str(out))
    return out


def render_pdf(
    results: StudyResults | Mapping[str, Any] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    paper: str = "a4",
    deidentify_key: str | None = None,
    sections: Sequence[str] | None = None,
    title: str = "Ultrasound report",
) -> Path:
    """Write the report as PDF to ``path`` (A4 or Letter); see :func:`render_html`."""
    html = render_html(results, paper=paper, deidentify_key=deidentify_key, sections=sections, title=title)
    return html_to_pdf(html, path)
