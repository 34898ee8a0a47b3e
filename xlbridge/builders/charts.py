"""Native spreadsheet charts, drawn by Excel and LibreOffice from the live cells they point at.

openpyxl leaves an axis's `delete` unset, which Excel reads as a deleted axis: every chart
here sets it, so both axes show with their titles.
"""

from __future__ import annotations

from openpyxl.chart import LineChart, Reference, ScatterChart, Series
from openpyxl.chart.marker import Marker

WIDTH, HEIGHT = 16, 8   # cm


def _axes(chart, x_title: str, y_title: str) -> None:
    chart.x_axis.title, chart.y_axis.title = x_title, y_title
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.width, chart.height = WIDTH, HEIGHT


def line_chart(title: str, x_title: str, y_title: str, series: dict[str, Reference], categories: Reference,
               log_y: bool = False) -> LineChart:
    """One line per entry of `series` (legend text -> values), over `categories`."""
    chart = LineChart()
    chart.title = title
    _axes(chart, x_title, y_title)
    for legend, values in series.items():
        chart.series.append(Series(values, title=legend))
    chart.set_categories(categories)
    if log_y:
        chart.y_axis.scaling.logBase = 10
        chart.y_axis.number_format = "General"   # 1000, not 1000.000
    return chart


def scatter_chart(title: str, x_title: str, y_title: str, x: Reference, y: Reference, legend: str) -> ScatterChart:
    """Points (x, y) with no connecting line: one marker per row of the two columns."""
    chart = ScatterChart()
    chart.title = title
    chart.style = 13
    _axes(chart, x_title, y_title)
    s = Series(y, x, title=legend)
    s.marker = Marker(symbol="circle", size=4)
    s.graphicalProperties.line.noFill = True
    chart.series.append(s)
    chart.legend = None
    return chart
