"""The programme's results as an SVG chart, written by hand: assessments completed per year as
bars on the left axis, buyers participating and relying as lines on the right axis, with a title,
gridlines, axis labels and a legend. Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from services.buyer_sharing.domain.results import ResultsTable

WIDTH, HEIGHT = 760, 420
LEFT, RIGHT, TOP, BOTTOM = 72, 688, 84, 356  # the plot area
TICKS = 5
MAX_YEAR_LABELS = 14
ASSESSMENTS = "#4a7ab5"
PARTICIPATING = "#d9822b"
RELYING = "#2e9e5b"
FONT = "font-family='Helvetica, Arial, sans-serif'"


def axis_ticks(maximum: int) -> list[int]:
    """0 up to a round top at or above `maximum`, in at most TICKS steps of 1, 2 or 5 x 10^k."""
    wanted = max(1, math.ceil(maximum / TICKS))
    magnitude = 10 ** (len(str(wanted)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= wanted)
    steps = max(1, math.ceil(maximum / step))
    return [step * index for index in range(steps + 1)]


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(f" {name.replace('_', '-')}={quoteattr(v)}" for name, v in attributes.items())
    return f"<text x='{_n(x)}' y='{_n(y)}'{extra}>{escape(content)}</text>"


def _line(points: Sequence[tuple[float, float]], colour: str, dashed: bool) -> list[str]:
    dash = " stroke-dasharray='6 4'" if dashed else ""
    path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    shapes = [f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2.5'{dash}/>"]
    shapes += [f"<circle cx='{_n(x)}' cy='{_n(y)}' r='3.5' fill='{colour}'/>" for x, y in points]
    return shapes


def chart(table: ResultsTable) -> str:
    years = sorted(table.years)
    figures = [table.years[year] for year in years]
    assessments = [entry.assessments_completed for entry in figures]
    participating = [entry.buyers_participating for entry in figures]
    relying = [entry.buyers_relying for entry in figures]
    left_ticks = axis_ticks(max(assessments, default=0))
    right_ticks = axis_ticks(max(participating + relying, default=0))
    band = (RIGHT - LEFT) / len(years)

    def y_of(value: int, ticks: list[int]) -> float:
        return BOTTOM - (BOTTOM - TOP) * value / ticks[-1]

    def x_of(index: int) -> float:
        return LEFT + band * (index + 0.5)

    title = f"Programme results, {table.country}, {table.first_year}\u2013{table.last_year}"
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-labelledby='title desc' {FONT} "
        "font-size='12'>",
        f"<title id='title'>{escape(title)}</title>",
        "<desc id='desc'>Assessments completed per year (bars, left axis); buyers with a "
        "sharing grant in force and buyers relying on the programme's assessments (lines, right "
        "axis).</desc>",
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='#ffffff'/>",
        _text(WIDTH / 2, 28, title, text_anchor="middle", font_size="17", font_weight="bold"),
    ]
    # gridlines and the left axis (assessments)
    for tick in left_ticks:
        y = _n(y_of(tick, left_ticks))
        out.append(f"<line x1='{LEFT}' y1='{y}' x2='{RIGHT}' y2='{y}' stroke='#e3e3e3'/>")
        out.append(_text(LEFT - 8, y_of(tick, left_ticks) + 4, str(tick), text_anchor="end"))
    for tick in right_ticks:
        out.append(_text(RIGHT + 8, y_of(tick, right_ticks) + 4, str(tick), text_anchor="start"))
    for side in (LEFT, RIGHT):
        out.append(f"<line x1='{side}' y1='{TOP}' x2='{side}' y2='{BOTTOM}' stroke='#555555'/>")
    out.append(f"<line x1='{LEFT}' y1='{BOTTOM}' x2='{RIGHT}' y2='{BOTTOM}' stroke='#555555'/>")
    middle = (TOP + BOTTOM) / 2
    out.append(
        _text(20, middle, "Assessments completed", text_anchor="middle",
              transform=f"rotate(-90 20 {_n(middle)})")
    )  # fmt: skip
    out.append(
        _text(WIDTH - 16, middle, "Buyers", text_anchor="middle",
              transform=f"rotate(90 {WIDTH - 16} {_n(middle)})")
    )  # fmt: skip
    # the bars, each with its figure as a tooltip, and the years below them
    every = max(1, math.ceil(len(years) / MAX_YEAR_LABELS))
    for index, (year, count) in enumerate(zip(years, assessments, strict=True)):
        top = y_of(count, left_ticks)
        width = band * 0.6
        out.append(
            f"<rect x='{_n(x_of(index) - width / 2)}' y='{_n(top)}' width='{_n(width)}' "
            f"height='{_n(BOTTOM - top)}' fill='{ASSESSMENTS}'>"
            f"<title>{year}: {count} assessments completed, {participating[index]} buyers "
            f"participating, {relying[index]} relying</title></rect>"
        )
        if index % every == 0:
            out.append(_text(x_of(index), BOTTOM + 18, str(year), text_anchor="middle"))
    out += _line(
        [(x_of(i), y_of(v, right_ticks)) for i, v in enumerate(participating)], PARTICIPATING, False
    )
    out += _line([(x_of(i), y_of(v, right_ticks)) for i, v in enumerate(relying)], RELYING, True)
    # the legend, above the plot
    legend = (
        ("rect", ASSESSMENTS, "Assessments completed"),
        ("line", PARTICIPATING, "Buyers participating"),
        ("dash", RELYING, "Buyers relying"),
    )
    x = float(LEFT)
    for kind, colour, label in legend:
        if kind == "rect":
            out.append(f"<rect x='{_n(x)}' y='48' width='14' height='12' fill='{colour}'/>")
        else:
            dash = " stroke-dasharray='6 4'" if kind == "dash" else ""
            out.append(
                f"<line x1='{_n(x)}' y1='54' x2='{_n(x + 22)}' y2='54' stroke='{colour}' "
                f"stroke-width='2.5'{dash}/>"
            )
        out.append(_text(x + 28, 58, label))
        x += 28 + 8 * len(label) + 24
    out.append(_text(WIDTH / 2, HEIGHT - 16, "Calendar year", text_anchor="middle"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
