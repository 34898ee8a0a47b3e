"""The parity report: what `xlbridge check` and `build --check` print.

Three forms of the same comparisons (xlbridge.parity.Comparison):

    text          one line per sheet (workbook, sheet, quantities, cells, max |diff|, result)
                  in 80 columns; a sheet that fails lists its failing quantities under it
    text verbose  every quantity, grouped by workbook and sheet
    json          one document with every comparison, for scripts

Both text forms end with the verdict line ("PASS: ..." or "FAIL: ...").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

WIDTH = 80


@dataclass(frozen=True)
class Checked:
    """One workbook's comparisons."""

    path: Path
    kind: str | None
    comparisons: list  # [Comparison]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def _fit(text: str, width: int) -> str:
    """Cut to `width` characters, the cut marked with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _diff(x: float) -> str:
    return f"{x:.2e}" if math.isfinite(x) else "none" if math.isnan(x) else "inf"


def _why(c) -> str:
    """A failed comparison in words."""
    if c.label:
        return f"{c.quantity}: {c.cells} cells, not equal to the data they repeat"
    return f"{c.quantity}: {c.cells} cells, max |diff| {_diff(c.max_diff)}{' (relative)' if c.relative else ''} > tol {c.tol:.0e}"


def _sheets(checked: Checked) -> dict[str, list]:
    """Comparisons by sheet, in the order the checker made them."""
    out: dict[str, list] = {}
    for c in checked.comparisons:
        out.setdefault(c.sheet, []).append(c)
    return out


def verdict(results: list[Checked]) -> str:
    comps = [c for r in results for c in r.comparisons]
    ok = all(r.passed for r in results)
    worst = max((c.max_diff for c in comps), default=0.0)
    return (f"{'PASS' if ok else 'FAIL'}: {len(comps)} quantities, {sum(c.cells for c in comps)} cells checked, "
            f"max |diff| {_diff(worst)}")


# workbook 18, sheet 18, quantities 10, cells 8, max |diff| 11, result 9: 74 columns with the gaps
_ROW = "{:<18} {:<18} {:>10} {:>8} {:>11}  {}"


def text_lines(results: list[Checked], engine: str, verbose: bool = False) -> list[str]:
    """The report as lines of text; without `verbose` every line fits in WIDTH columns."""
    if verbose:
        return _verbose_lines(results, engine)
    lines = [f"Parity: {engine} recalculation vs PyTorch (float64)",
             _ROW.format("workbook", "sheet", "quantities", "cells", "max |diff|", "result")]
    for r in results:
        for sheet, comps in _sheets(r).items():
            ok = all(c.passed for c in comps)
            lines.append(_ROW.format(_fit(r.path.name, 18), _fit(sheet, 18), len(comps), sum(c.cells for c in comps),
                                     _diff(max(c.max_diff for c in comps)), "ok" if ok else "MISMATCH"))
            # a failing sheet says which quantities failed, so the reader knows where to look
            lines += [_fit(f"  - {_why(c)}", WIDTH) for c in comps if not c.passed]
    comps = [c for r in results for c in r.comparisons]
    tols = [f"{t:.0e}" for t in sorted({c.tol for c in comps if c.tol > 0})]
    exact = [what for what, found in (("text outputs", any(c.tol == 0 and not c.label for c in comps)),
                                      ("labels", any(c.label for c in comps))) if found]
    tols += [" and ".join(exact) + " exact"] if exact else []
    lines += ["max |diff|: the largest over the sheet's quantities, some relative per cell.",
              _fit(f"Tolerances: {', '.join(tols)}.", WIDTH),
              "--verbose lists every quantity with its tolerance."]
    lines.append(verdict(results))
    return lines


def _verbose_lines(results: list[Checked], engine: str) -> list[str]:
    row = "  {:<36} {:>7} {:>13} {:>6}  {}"
    lines = [f"Parity: {engine} recalculation vs PyTorch (float64)"]
    for r in results:
        for sheet, comps in _sheets(r).items():
            lines += ["", f"{r.path.name}, sheet '{sheet}'", row.format("quantity", "cells", "max |diff|", "tol", "result")]
            for c in comps:
                lines.append(row.format(_fit(c.quantity, 36), c.cells, _diff(c.max_diff) + (" rel" if c.relative else "    "),
                                        f"{c.tol:.0e}" if c.tol else "exact", "ok" if c.passed else "MISMATCH"))
    lines += ["", verdict(results)]
    return lines


def _number(x: float):
    return x if math.isfinite(x) else None  # JSON has no inf or NaN: null, with passed false


def json_document(results: list[Checked], engine: str, seconds: float | None = None, coverage: dict | None = None) -> str:
    """Every comparison as one JSON document; with `coverage` ({path: [SheetCoverage]}, from
    xlbridge.coverage), each workbook's formula cells compared, checked as labels, unchecked."""
    doc = {
        "engine": engine,
        "passed": all(r.passed for r in results),
        "summary": verdict(results),
        "seconds": None if seconds is None else round(seconds, 3),
        "workbooks": [{
            "path": str(r.path),
            "kind": r.kind,
            "passed": r.passed,
            "comparisons": [{"sheet": c.sheet, "quantity": c.quantity, "cells": c.cells, "max_diff": _number(c.max_diff),
                             "tol": c.tol, "relative": c.relative, "passed": c.passed, "names": list(c.names),
                             "label": c.label} for c in r.comparisons],
            **({"coverage": [{"sheet": sc.sheet, "formulas": sc.formulas, "compared": sc.compared, "labels": sc.labels,
                              "unchecked": sc.n_unchecked} for sc in coverage[r.path]]} if coverage else {}),
        } for r in results],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False)
