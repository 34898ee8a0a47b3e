"""Teaching styles shared by every workbook: the course's colours, headers, notes, intro sheet.

Colours as in the course sheets: parameters (the cells Solver changes) orange, data blue,
outputs and loss green; hyperparameters a user may edit are light yellow.
"""

from __future__ import annotations

from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray

from xlbridge.xlsx import set_text

FILLS = {
    "param": PatternFill("solid", fgColor="F8CBAD"),   # orange: Solver's changing cells
    "data": PatternFill("solid", fgColor="BDD7EE"),    # blue: ratings, x/y, input characters
    "input": PatternFill("solid", fgColor="FFF2CC"),   # yellow: hyperparameters to edit
    "output": PatternFill("solid", fgColor="C6EFCE"),  # green: predictions, loss
}
NUMBER_FORMATS = {"param": "0.000", "data": "General", "input": "General", "output": "0.000"}

HEADER_FONT = Font(bold=True)
HEADER_ALIGNMENT = Alignment(horizontal="center", wrap_text=False)
TITLE_FONT = Font(bold=True, size=14)
_thin = Side(style="thin", color="A6A6A6")
LOSS_BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)


def _cells(ws, cell_range: str):
    rows = ws[cell_range]
    if not isinstance(rows, tuple):          # a single cell
        return [rows]
    if rows and not isinstance(rows[0], tuple):  # a single row or column
        return list(rows)
    return [c for row in rows for c in row]


def paint(ws, cell_range: str, role: str, number_format: str | None = None) -> None:
    """Colour a block by its role ('param', 'data', 'input', 'output') and set its format."""
    first, *rest = _cells(ws, cell_range)
    first.fill = FILLS[role]
    first.number_format = number_format or NUMBER_FORMATS[role]
    _like(first, rest, "fillId", "numFmtId")


def header(ws, cell_range: str) -> None:
    """Bold, centred header cells."""
    first, *rest = _cells(ws, cell_range)
    first.font = HEADER_FONT
    first.alignment = HEADER_ALIGNMENT
    _like(first, rest, "fontId", "alignmentId")


def _like(first, rest, *ids: str) -> None:
    """Give the `rest` of a block the style ids `first` was given, where openpyxl would hash the
    same style objects again for each of its cells."""
    values = [getattr(first._style, key) for key in ids]
    for c in rest:
        if not c._style:                      # a cell never styled has none yet
            c._style = StyleArray()
        for key, value in zip(ids, values):
            setattr(c._style, key, value)


def label(cell, text: str, bold: bool = True) -> None:
    """A caption in a cell (always text, never a formula)."""
    set_text(cell, text)
    cell.font = Font(bold=bold)


def note(cell, text: str, author: str = "xlbridge") -> None:
    """A short cell note (comment) on a key formula."""
    c = Comment(text, author)
    c.width, c.height = 320, 110
    cell.comment = c


def widths(ws, columns: dict[str, float]) -> None:
    """Set column widths, e.g. widths(ws, {"A": 10, "B": 30})."""
    for col, w in columns.items():
        ws.column_dimensions[col].width = w


def print_on_one_page(ws) -> None:
    """Landscape, scaled to one page wide: a printed or PDF sheet keeps its blocks together."""
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0


def intro_sheet(wb, title: str, sections: list[tuple[str, str]], sheet_title: str = "intro"):
    """Create (as the first sheet) a page that explains the workbook: a title, then one
    heading and paragraph per section."""
    ws = wb.create_sheet(sheet_title, 0)
    ws["A1"].font = TITLE_FONT
    set_text(ws["A1"], title)
    row = 3
    for heading, text in sections:
        set_text(ws.cell(row, 1), heading)
        ws.cell(row, 1).font = HEADER_FONT
        ws.cell(row, 1).alignment = Alignment(vertical="top")
        set_text(ws.cell(row, 2), text)
        ws.cell(row, 2).alignment = Alignment(wrap_text=True, vertical="top")
        # rough height so wrapped paragraphs are readable without resizing rows by hand
        ws.row_dimensions[row].height = 15 * max(1, len(text) // 95 + 1 + text.count("\n"))
        row += 1
    widths(ws, {"A": 22, "B": 110})
    return ws
