"""The HTML page around the charts: one self-contained file, styles inline, no script.

Nothing on the page refers to another resource (no link, no image URL, no
font), so it reads offline and can be attached to an email. Every text that
comes from data is escaped here or in :mod:`.svg`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .svg import esc

__all__ = ["Section", "heading", "note", "page", "table"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1000px;color:#222;background:#fff;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;
border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1em;margin:1.2em 0 .4em}
p.meta,p.note{color:#555;font-size:.9em}svg{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0 1em;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #999}
tr.total td{font-weight:600;border-top:2px solid #999}
.scroll{overflow-x:auto}
"""


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "") -> str:
    """An HTML table of already formatted cells (a row whose first cell is TOTAL is bold)."""
    out = ['<div class="scroll"><table>']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        cls = ' class="total"' if r and r[0] == "TOTAL" else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


@dataclass
class Section:
    """A heading, an optional lead paragraph, then charts and tables in order (raw HTML)."""

    title: str
    lead: str = ""
    parts: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The section's HTML."""
        lead = f'<p class="note">{esc(self.lead)}</p>' if self.lead else ""
        return f"<section><h2>{esc(self.title)}</h2>{lead}{''.join(self.parts)}</section>"


def note(text: str) -> str:
    """A small paragraph of escaped text."""
    return f'<p class="note">{esc(text)}</p>'


def heading(text: str) -> str:
    """A sub-heading."""
    return f"<h3>{esc(text)}</h3>"


def page(title: str, meta: Sequence[str], sections: Sequence[Section]) -> str:
    """The complete document."""
    body = "".join(s.render() for s in sections)
    lines = "".join(f'<p class="meta">{esc(m)}</p>' for m in meta)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No resource may be fetched: the page stands alone, and a name that
        # smuggled markup in still could not load anything.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>{lines}{body}</body></html>\n"
    )
