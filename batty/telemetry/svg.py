"""Inline SVG bar charts for the html digest: strings, no library, nothing fetched."""

from __future__ import annotations

from html import escape

COLORS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5")


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    p = 10 ** len(str(int(v))) / 10
    for step in (1, 2, 5, 10):
        if v <= step * p:
            return step * p
    return 10 * p


def bars(labels: list[str], series: dict[str, list[float]], *, title: str,
         width: int = 640, height: int = 220) -> str:
    """Grouped bars: one group per label, one bar per series, with a legend when several."""
    left, right, top, bottom = 48, 12, 24, 56
    iw, ih = width - left - right, height - top - bottom
    top_value = _nice(max([0.0, *(v or 0 for vs in series.values() for v in vs)]))
    band = iw / max(len(labels), 1)
    bw = max(1.0, band * 0.8 / max(len(series), 1))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}" class="chart">',
           f'<text x="{left}" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    ticks = 5 if top_value >= 5 else max(1, int(top_value))
    for i in range(ticks + 1):
        value = top_value * i / ticks
        y = top + ih - ih * i / ticks
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        label = f"{value:g}" if value < 10 else f"{value:,.0f}"
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{label}</text>')
    for si, (name, values) in enumerate(series.items()):
        for i, v in enumerate(values):
            h = ih * (v or 0) / top_value
            x = left + band * i + band * 0.1 + bw * si
            out.append(f'<rect x="{x:.1f}" y="{top + ih - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                       f'fill="{COLORS[si % len(COLORS)]}"><title>{escape(labels[i])}: '
                       f'{escape(name)} {v:g}</title></rect>')
    every = max(1, -(-len(labels) // 12))
    for i, label in enumerate(labels):
        if i % every:
            continue
        x, y = left + band * i + band / 2, top + ih + 14
        out.append(f'<text x="{x:.1f}" y="{y}" font-size="10" text-anchor="end" '
                   f'transform="rotate(-35 {x:.1f} {y})">{escape(label)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + ih}" y2="{top + ih}" stroke="#999"/>')
    if len(series) > 1:
        x = width - right - 110 * len(series)
        for si, name in enumerate(series):
            out.append(f'<rect x="{x + si * 110}" y="6" width="10" height="10" fill="{COLORS[si % len(COLORS)]}"/>'
                       f'<text x="{x + si * 110 + 14}" y="15" font-size="11">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
