"""`olist-etl report`: one self-contained HTML file of the analytics views.

The file needs no network and no script: the charts are inline SVG drawn here, the styles are
inline, and every number also appears in a table. It names the warehouse by database and host
only (never a user or password) and says when it was written and which sync its numbers come from.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from olist_etl.db import dialect_of, warehouse_engine
from olist_etl.settings import SecretUrl, Settings
from olist_etl.sqlfiles import render, statements

# Categories in the category charts (the tables list them all).
DEFAULT_TOP_N = 15
BAR_COLOR = "#2f6ea5"


class ReportError(RuntimeError):
    """The report cannot be written from this warehouse (views missing, nothing synced yet)."""


@dataclass(frozen=True)
class Column:
    name: str
    heading: str
    kind: str  # text | int | money | share | number


@dataclass(frozen=True)
class Chart:
    title: str
    value: str  # the column charted
    kind: str  # "columns" (vertical, in row order) or "bars" (horizontal)
    top_n: bool = False  # only the first N rows (the rows come sorted by importance)
    maximum: float | None = None  # the value axis' end when the scale is fixed (review scores: 5)


@dataclass(frozen=True)
class Section:
    view: str
    title: str
    note: str
    columns: tuple[Column, ...]
    order_by: tuple[tuple[str, bool], ...]  # (column, descending)
    charts: tuple[Chart, ...]
    label: Callable[[dict], str]  # a row's label on the charts


def _month(row: dict) -> str:
    if row["purchase_year"] is None or row["purchase_month"] is None:
        return "unknown"
    return f"{row['purchase_year']}-{row['purchase_month']:02d}"


_MONTH_COLUMNS = (Column("purchase_year", "Year", "text"), Column("purchase_month", "Month", "text"))
_BY_MONTH = (("purchase_year", False), ("purchase_month", False))

SECTIONS: tuple[Section, ...] = (
    Section(
        "monthly_revenue",
        "Monthly revenue",
        "Revenue is the sum of item prices (freight apart) by purchase month; canceled and unavailable orders are left out.",
        _MONTH_COLUMNS + (
            Column("orders", "Orders", "int"),
            Column("items", "Items", "int"),
            Column("revenue", "Revenue", "money"),
            Column("freight", "Freight", "money"),
            Column("average_order_value", "Average order value", "money"),
        ),
        _BY_MONTH,
        (Chart("Revenue by purchase month", "revenue", "columns"),),
        _month,
    ),
    Section(
        "revenue_by_state",
        "Revenue by customer state",
        "The customer's state at the time of the purchase.",
        (
            Column("customer_state", "State", "text"),
            Column("orders", "Orders", "int"),
            Column("items", "Items", "int"),
            Column("revenue", "Revenue", "money"),
            Column("freight", "Freight", "money"),
            Column("average_order_value", "Average order value", "money"),
        ),
        (("revenue", True), ("customer_state", False)),
        (Chart("Revenue by customer state", "revenue", "bars"),),
        lambda row: row["customer_state"],
    ),
    Section(
        "revenue_by_category",
        "Revenue by product category",
        "English category names; 'unknown' where the category is untranslated or missing.",
        (
            Column("product_category", "Category", "text"),
            Column("orders", "Orders", "int"),
            Column("items", "Items", "int"),
            Column("revenue", "Revenue", "money"),
            Column("freight", "Freight", "money"),
        ),
        (("revenue", True), ("product_category", False)),
        (Chart("Top categories by revenue", "revenue", "bars", top_n=True),),
        lambda row: row["product_category"],
    ),
    Section(
        "delivery_performance",
        "Delivery performance",
        "Orders delivered to the customer, by purchase month. Late: delivered after the estimated date.",
        _MONTH_COLUMNS + (
            Column("delivered_orders", "Delivered orders", "int"),
            Column("late_orders", "Late orders", "int"),
            Column("late_share", "Late share", "share"),
            Column("average_days_to_deliver", "Average days to deliver", "number"),
            Column("median_days_to_deliver", "Median days to deliver", "number"),
        ),
        _BY_MONTH,
        (
            Chart("Share of deliveries that were late", "late_share", "columns"),
            Chart("Average days to deliver", "average_days_to_deliver", "columns"),
        ),
        _month,
    ),
    Section(
        "review_score_by_category",
        "Review score by product category",
        "A review counts once for each category in its order. Chart: the most reviewed categories.",
        (
            Column("product_category", "Category", "text"),
            Column("reviews", "Reviews", "int"),
            Column("average_review_score", "Average score (1-5)", "number"),
        ),
        (("reviews", True), ("product_category", False)),
        (Chart("Average review score of the most reviewed categories", "average_review_score", "bars", top_n=True, maximum=5),),
        lambda row: row["product_category"],
    ),
    Section(
        "payment_mix",
        "Payment mix",
        "Payment rows and value by payment type; canceled and unavailable orders are left out.",
        (
            Column("payment_type", "Payment type", "text"),
            Column("payments", "Payments", "int"),
            Column("payment_value", "Value", "money"),
            Column("share_of_value", "Share of value", "share"),
        ),
        (("payment_value", True), ("payment_type", False)),
        (Chart("Share of payment value by type", "share_of_value", "bars"),),
        lambda row: row["payment_type"],
    ),
)

VIEW_NAMES = tuple(section.view for section in SECTIONS)


def default_output(settings: Settings) -> Path:
    return settings.home / "report" / "index.html"


def warehouse_label(url: SecretUrl) -> str:
    """Database, engine and host of the warehouse: never its user or password."""
    parsed = make_url(url.reveal())
    where = parsed.host or "a local socket"
    if parsed.port:
        where += f":{parsed.port}"
    return f"{parsed.database or '(default database)'} ({dialect_of(url)} on {where})"


def write_report(settings: Settings, output: Path | None = None, *, top_n: int = DEFAULT_TOP_N) -> Path:
    """Read the views, write the HTML file (replacing any previous one) and return its path."""
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    output = (output or default_output(settings)).expanduser().resolve()
    data, last_run = read_views(settings)
    document = render_html(
        data,
        warehouse=warehouse_label(settings.warehouse_url),
        generated_at=datetime.now(timezone.utc).replace(tzinfo=None),
        last_run=last_run,
        top_n=top_n,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    partial.write_text(document, encoding="utf-8")
    partial.replace(output)  # a reader never sees half a report
    return output


def read_views(settings: Settings) -> tuple[dict[str, list[dict]], dict | None]:
    """Every section's rows, and the latest promoted run; ReportError when there is nothing to show."""
    dialect = dialect_of(settings.warehouse_url)
    engine = warehouse_engine(settings)
    where = warehouse_label(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            existing = set(conn.execute(sa.text(_sql("existing_views", dialect))).scalars())
            missing = [name for name in VIEW_NAMES if name not in existing]
            if missing:
                raise ReportError(
                    f"the warehouse {where} has no analytics view user_access_layer."
                    f"{', user_access_layer.'.join(missing)}: run `olist-etl sync --mode full` first"
                )
            data = {}
            for section in SECTIONS:
                sql = _sql(
                    "read_view", dialect,
                    view=section.view, columns=[c.name for c in section.columns], order_by=section.order_by,
                )
                data[section.view] = [dict(row) for row in conn.execute(sa.text(sql)).mappings()]
            last = conn.execute(sa.text(_sql("last_run", dialect))).mappings().first()
    finally:
        engine.dispose()
    if not any(data.values()):
        raise ReportError(
            f"the warehouse {where} holds no orders yet (every analytics view is empty): "
            "run `olist-etl sync --mode full` first"
        )
    return data, dict(last) if last else None


def _sql(name: str, dialect: str, **context: object) -> str:
    return statements(render(f"warehouse/views/report/{name}.sql", dialect, **context))[0]


# --- formatting --------------------------------------------------------------------------------

def format_value(value: object, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "money":
        return f"R$ {Decimal(value):,.2f}"
    if kind == "share":
        return f"{Decimal(value) * 100:.1f}%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "number":
        return f"{Decimal(value):,.2f}"
    return str(value)


def _axis_value(value: float, kind: str) -> str:
    if kind == "money":
        for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= limit:
                return f"R$ {value / limit:g}{suffix}"
        return f"R$ {value:g}"
    if kind == "share":
        return f"{value * 100:g}%"
    return f"{value:g}"


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten not below value (the axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- charts ------------------------------------------------------------------------------------

def column_chart(chart_id: str, title: str, points: list[tuple[str, float]], kind: str, maximum: float | None = None) -> str:
    """Vertical bars in the given order (months), a value axis with four ticks."""
    width, height = 960, 320
    left, right, top, bottom = 80, 16, 36, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling = maximum or _nice_ceiling(max((v for _, v in points), default=0))
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / 12))  # at most about 12 labels under the axis
    parts = [_svg_open(chart_id, title, width, height)]
    for tick in range(5):
        value = ceiling * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_esc(_axis_value(value, kind))}</text>')
    for index, (label, value) in enumerate(points):
        bar_h = plot_h * max(value, 0) / ceiling
        x = left + index * slot + slot * 0.1
        y = top + plot_h - bar_h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{bar_h:.1f}" fill="{BAR_COLOR}">'
            f"<title>{_esc(label)}: {_esc(format_value(value, kind))}</title></rect>"
        )
        if index % every == 0:
            cx = left + index * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="end" class="axis" '
                f'transform="rotate(-40 {cx:.1f} {top + plot_h + 16})">{_esc(label)}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#666"/>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(chart_id: str, title: str, points: list[tuple[str, float]], kind: str, maximum: float | None = None) -> str:
    """Horizontal bars, one row per label, the value written at the end of each bar."""
    width, row_h = 960, 24
    left, right, top = 200, 110, 36
    plot_w = width - left - right
    height = top + row_h * len(points) + 12
    ceiling = maximum or max((v for _, v in points), default=0) or 1.0
    parts = [_svg_open(chart_id, title, width, height)]
    for index, (label, value) in enumerate(points):
        y = top + index * row_h
        bar_w = plot_w * max(value, 0) / ceiling
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="label">{_esc(_clip(label))}</text>')
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{bar_w:.1f}" height="{row_h - 6}" fill="{BAR_COLOR}">'
            f"<title>{_esc(label)}: {_esc(format_value(value, kind))}</title></rect>"
        )
        parts.append(f'<text x="{left + bar_w + 6:.1f}" y="{y + 16}" class="value">{_esc(format_value(value, kind))}</text>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - 12}" stroke="#666"/>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(chart_id: str, title: str, width: int, height: int) -> str:
    # Inline SVG inside HTML needs no xmlns (and so carries no URL at all).
    return (
        f'<svg class="chart" id="{_esc(chart_id)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
        f'<text x="0" y="20" class="chart-title">{_esc(title)}</text>'
    )


def _clip(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# --- the page ----------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
header p { margin: 4px 0; color: #555; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 16px 20px; margin: 20px 0; }
h1 { margin: 0 0 8px; font-size: 26px; }
h2 { margin: 0 0 4px; font-size: 20px; }
.note { color: #555; margin: 0 0 12px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0 16px; }
svg .axis, svg .label, svg .value { font-size: 12px; fill: #333; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #222; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.empty { color: #a33; }
"""


def render_html(
    data: dict[str, list[dict]],
    *,
    warehouse: str,
    generated_at: datetime,
    last_run: dict | None,
    top_n: int = DEFAULT_TOP_N,
) -> str:
    """The whole report as one HTML document (no script, no external reference)."""
    if last_run:
        freshness = (
            f"Numbers as of the {_esc(last_run['mode'])} sync {_esc(last_run['run_id'])}, "
            f"promoted {_esc(_utc(last_run['finished_at']))}."
        )
    else:
        freshness = "No promoted sync is recorded in etl_control.runs."
    body = [
        "<header>",
        "<h1>Olist sales report</h1>",
        f"<p>Warehouse: {_esc(warehouse)}, views in user_access_layer.</p>",
        f"<p>Generated {_esc(_utc(generated_at))}. {freshness}</p>",
        "</header>",
    ]
    for section in SECTIONS:
        body.append(_section_html(section, data.get(section.view, []), top_n))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Olist sales report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _section_html(section: Section, rows: list[dict], top_n: int) -> str:
    out = [f'<section id="{_esc(section.view)}">', f"<h2>{_esc(section.title)}</h2>", f'<p class="note">{_esc(section.note)}</p>']
    if not rows:
        out.append(f'<p class="empty">No rows in user_access_layer.{_esc(section.view)} yet.</p></section>')
        return "\n".join(out)
    kinds = {c.name: c.kind for c in section.columns}
    for number, chart in enumerate(section.charts):
        shown = rows[:top_n] if chart.top_n else rows
        points = [(section.label(row), float(row[chart.value] or 0)) for row in shown]
        title = chart.title + (f" (top {len(shown)} of {len(rows)})" if chart.top_n and len(rows) > len(shown) else "")
        draw = column_chart if chart.kind == "columns" else bar_chart
        out.append(draw(f"chart-{section.view}-{number}", title, points, kinds[chart.value], chart.maximum))
    out.append("<table>")
    out.append("<thead><tr>" + "".join(f"<th>{_esc(c.heading)}</th>" for c in section.columns) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        cells = "".join(f"<td>{_esc(format_value(row[c.name], c.kind))}</td>" for c in section.columns)
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></section>")
    return "\n".join(out)
