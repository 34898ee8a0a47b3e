"""Benchmark: memory of hostile workbooks (issue #12), beside the code before this change.

The issue: "a 15.6 MB file holding 200 MB of sheet XML passes the size checks and then
grows past 6 GB (about 31 MB of memory per MB of sheet XML)"; it must end in a clean
refusal or a solve within 1 GB. This script writes workbooks holding 12.5 to 200 MB of
sheet XML (a small Solver model on the first sheet, then sheets of up to 90 MB each, under
the per-sheet limit), zipped, and measures the peak resident memory of `xlbridge solve`
and of `workbook_values` on each, now and before, as MB of memory per MB of sheet XML.

Two kinds of sheet XML: `copies`, formulas filled down a column (the common case: one tree
for a whole column), and `distinct`, every formula different (what costs parse trees).

    python -m xlbridge.benchmarks.solver_memory [--sizes 12.5,25,50,100,200] [--kinds copies,distinct]
                                                [--base REV] [--no-base]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .baseline import BASE_HELP, baseline_tree, run

SHEET_MB = 90                    # each data sheet stays under the reader's 100 MB per sheet
HEAD = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
MODEL = (HEAD + '<row r="1"><c r="B1"><v>0.5</v></c></row><row r="2"><c r="B2"><v>0.5</v></c></row>'
         '<row r="3"><c r="B3"><f>(B1-3)^2+(B2+1)^2</f></c></row></sheetData></worksheet>')


def _row(kind: str, r: int) -> bytes:
    if kind == "copies":
        return (f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><f>A{r}*2+1</f><v>{2 * r + 1}</v></c>'
                f'<c r="C{r}"><f>B{r}-A{r}</f><v>{r + 1}</v></c><c r="D{r}"><f>C{r}/2</f><v>{(r + 1) / 2}</v></c>'
                '</row>').encode()
    return (f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><f>A{r}*{r}+{r % 997}</f></c>'
            f'<c r="C{r}"><f>B{r}-A{r}*{r % 991}</f></c></row>').encode()


def write_workbook(path: Path, mb: float, kind: str) -> tuple[float, int]:
    """A workbook holding `mb` MB of sheet XML; returns (MB zipped, cells)."""
    n_sheets = max(1, int(-(-mb // SHEET_MB)))
    per_sheet = mb * 2**20 / n_sheets
    names = [f"s{i}" for i in range(n_sheets + 1)]
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          + "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(len(names)))
          + "</Types>")
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>')
    workbook = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                + "".join(f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names))
                + '</sheets><definedNames>'
                '<definedName name="solver_opt" localSheetId="0" hidden="1">s0!$B$3</definedName>'
                '<definedName name="solver_adj" localSheetId="0" hidden="1">s0!$B$1:$B$2</definedName>'
                '<definedName name="solver_typ" localSheetId="0" hidden="1">2</definedName>'
                '<definedName name="solver_neg" localSheetId="0" hidden="1">2</definedName></definedNames></workbook>')
    wb_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                         f'relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>' for i in range(len(names)))
               + "</Relationships>")
    cells = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("[Content_Types].xml", ct), ("_rels/.rels", rels), ("xl/workbook.xml", workbook),
                           ("xl/_rels/workbook.xml.rels", wb_rels), ("xl/worksheets/sheet1.xml", MODEL)):
            z.writestr(name, text)
        for i in range(n_sheets):
            with z.open(f"xl/worksheets/sheet{i + 2}.xml", "w", force_zip64=True) as f:
                f.write(HEAD.encode())
                size, r = len(HEAD), 0
                while size < per_sheet:
                    r += 1
                    row = _row(kind, r)
                    f.write(row)
                    size += len(row)
                f.write(b"</sheetData></worksheet>")
            cells += r * (4 if kind == "copies" else 3)
    return path.stat().st_size / 2**20, cells


def _measure(path: Path, tree) -> list:
    out = []
    for label, cmd in (("solve", ["-m", "xlbridge", "solve", str(path), "--no-check", "--force"]),
                       ("workbook_values", ["-c", f"from xlbridge.calc import workbook_values; workbook_values({str(path)!r})"])):
        seconds, code, peak, tail = run([sys.executable, *cmd], tree)
        outcome = "solved" if code == 0 and label == "solve" else "computed" if code == 0 else \
            ("refused: " + tail.split(": ", 2)[-1] if code == 2 or "XlbridgeInputError" in tail else f"exit {code}: {tail}")
        out.append((label, peak, seconds, outcome))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="12.5,25,50,100,200", help="MB of sheet XML, comma-separated")
    ap.add_argument("--kinds", default="copies,distinct", help="copies (formulas filled down), distinct")
    ap.add_argument("--base", default=None, help=BASE_HELP)
    ap.add_argument("--no-base", action="store_true", help="skip the measurement of the code before")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="xlb-mem-"))
    base = None if args.no_base else baseline_tree(tmp, args.base)
    print("Peak resident memory (the largest process) per MB of sheet XML; target: refused, or within 1 GB.")
    print(f"{'kind':9s} {'sheet XML':>9s} {'zipped':>7s} {'cells':>9s}  {'command':15s} "
          f"{'peak MB':>8s} {'MB/MB':>6s} {'time s':>7s}  outcome")
    try:
        for kind in args.kinds.split(","):
            for mb in (float(x) for x in args.sizes.split(",")):
                path = tmp / f"{kind}-{mb:g}.xlsx"
                zipped, cells = write_workbook(path, mb, kind)
                for who, tree in (("now", None), ("before", base)):
                    if who == "before" and base is None:
                        continue
                    for label, peak, seconds, outcome in _measure(path, tree):
                        verdict = "" if who == "before" else ("  ok" if peak <= 1024 or "refused" in outcome else "  OVER 1 GB")
                        print(f"{kind:9s} {mb:8g}M {zipped:6.1f}M {cells:9,d}  {label + ' ' + who:22s} "
                              f"{peak:8.0f} {peak / mb:6.1f} {seconds:7.1f}  {outcome[:70]}{verdict}", flush=True)
                path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
