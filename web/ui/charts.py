"""Server-rendered SVG charts (no JavaScript): stacked bars per hour, a small gauge."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from web.ui.i18n import current_lang, fmt_number

# One colour per final code, chosen to stay distinguishable; answered calls are green.
CODE_COLOURS: dict[int, str] = {
    3: "#e8a33d", 4: "#d98a1c", 5: "#c0504d", 6: "#a33b39", 7: "#8e7cc3", 8: "#6a5acd",
    9: "#7f7f7f", 10: "#5f5f5f", 11: "#4caf50", 12: "#2e8b57", 13: "#1f6feb",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Series:
    key: int | str
    label: str
    colour: str


def stacked_bars(
    buckets: list[str],
    values: dict[tuple[str, int | str], int],
    series: list[Series],
    *,
    title: str,
    width: int = 880,
    height: int = 240,
    links: dict[tuple[str, int | str], str] | None = None,
    notes: dict[tuple[str, int | str], str] | None = None,
) -> str:
    """A stacked bar per bucket; ``values[(bucket, series.key)]`` is the count. A part
    with an entry in ``links`` is a link there (to the calls it counts); ``notes`` adds
    to a part's tooltip."""
    left, bottom, top, legend_w = 44, 28, 12, 215
    plot_w = width - left - legend_w - 8
    plot_h = height - bottom - top
    totals = [sum(values.get((b, s.key), 0) for s in series) for b in buckets]
    peak = max([*totals, 1])
    step = _nice_step(peak)
    y_max = step * (-(-peak // step))
    bar_w = plot_w / max(len(buckets), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(0, y_max + 1, step):
        y = top + plot_h - tick / y_max * plot_h
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick}</text>'
        )
    label_every = max(1, len(buckets) // 12)
    for i, bucket in enumerate(buckets):
        x = left + i * bar_w
        y = top + plot_h
        for s in series:
            n = values.get((bucket, s.key), 0)
            if not n:
                continue
            h = n / y_max * plot_h
            y -= h
            note = (notes or {}).get((bucket, s.key))
            rect = (
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{s.colour}"><title>{escape(bucket)} '
                f"{escape(s.label)}: {fmt_number(n)}{escape(note) if note else ''}</title></rect>"
            )
            href = (links or {}).get((bucket, s.key))
            if href is not None:
                rect = (
                    f'<a class="bar" href="{escape(href)}" data-count="{n}" '
                    f'data-series="{escape(str(s.key))}">{rect}</a>'
                )
            out.append(rect)
        if i % label_every == 0:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'class="tick">{escape(bucket[-5:])}</text>'
            )
    lx = width - legend_w
    for i, s in enumerate(series):
        y = top + i * 18
        out.append(
            f'<rect x="{lx}" y="{y}" width="12" height="12" fill="{s.colour}"/>'
            f'<text x="{lx + 18}" y="{y + 10}" class="legend">{escape(s.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def gauge(fraction: float | None, *, label: str, width: int = 200) -> str:
    """A horizontal bar filled to ``fraction`` (0..1), with the percentage."""
    pct = "–" if fraction is None else percent(fraction)
    filled = 0.0 if fraction is None else max(0.0, min(1.0, fraction)) * (width - 2)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 34" class="gauge" '
        f'role="img" aria-label="{escape(label)} {pct}"><title>{escape(label)}</title>'
        f'<rect x="1" y="1" width="{width - 2}" height="14" rx="3" class="gauge-bg"/>'
        f'<rect x="1" y="1" width="{filled:.1f}" height="14" rx="3" class="gauge-fg"/>'
        f'<text x="1" y="30" class="legend">{pct}</text></svg>'
    )


def percent(fraction: float) -> str:
    """``13.7%``, or ``%13,7`` for a Turkish viewer (tr-TR)."""
    if current_lang() == "tr":
        return "%" + fmt_number(fraction * 100, 1)
    return f"{fraction * 100:.1f}%"


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if peak / step <= 5:
            return step
    return 100000
