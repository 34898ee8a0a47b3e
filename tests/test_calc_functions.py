"""One parametrised test over the function registry: every function, in a small workbook, is
evaluated by the interpreter, by the decision-path program where it has one (with its
gradient against central differences), and by real LibreOffice (one start for all), and all
agree. A function added to the registry without a sample here fails the test."""

from __future__ import annotations

import numpy as np
import openpyxl
import pytest

from xlbridge.calc.evaluate import Evaluator
from xlbridge.calc.functions import FUNCTIONS
from xlbridge.calc.program import compile_program
from xlbridge.calc.reader import read_workbook

# Data: B1 is the "changing cell" for the decision-path check.
DATA = {"A1": "a", "A2": "b", "A3": "a", "A4": "c", "B1": 2.0, "B2": 3.0, "B3": -1.5, "B4": 0.5,
        "C1": 10.0, "C2": 20.0, "C3": 30.0, "C4": 40.0, "D1": 1.0, "D2": 2.0, "D3": 3.0, "D4": 4.0,
        "E1": "Hello World", "E2": 45000.0, "E3": "3.5", "E4": True}

SAMPLES = {
    "+": "=B1+B2", "-": "=B1-B3", "*": "=B1*B2", "/": "=B2/B1", "^": "=B1^B4", "neg": "=-B1", "pos": "=+B1",
    "%": "=B1%", "&": '=E1&"!"', "=": "=B1=2", "<>": "=B1<>2", "<": "=B1<B2", ">": "=B1>B2", "<=": "=B1<=2.5",
    ">=": "=B1>=3", "ABS": "=ABS(B3*B1)", "ACOS": "=ACOS(B4/B1)", "ADDRESS": "=ADDRESS(2,3)",
    "AND": "=AND(B1>1,B2>1)", "ASIN": "=ASIN(B4/B1)", "ATAN": "=ATAN(B1)", "ATAN2": "=ATAN2(B1,B2)",
    "AVERAGE": "=AVERAGE(B1:B4)", "AVERAGEIF": '=AVERAGEIF(A1:A4,"a",C1:C4)+AVERAGEIF(C1:C4,">15")',
    "AVERAGEIFS": '=AVERAGEIFS(C1:C4,A1:A4,"a",D1:D4,">1")', "CEILING": "=CEILING(B3*B1,0.7)",
    "CEILING.MATH": "=CEILING.MATH(B3*B1)", "CEILING.PRECISE": "=CEILING.PRECISE(4.3,2)",
    "CHAR": "=CHAR(65)", "CHOOSE": "=CHOOSE(2,B1,B2*B1,C1)", "CODE": "=CODE(E1)", "COLUMN": "=COLUMN(C3)",
    "COLUMNS": "=COLUMNS(A1:C4)", "COMBIN": "=COMBIN(8,3)", "CONCAT": "=CONCAT(A1:A4)",
    "CONCATENATE": '=CONCATENATE(E1,"-",B1)', "CORREL": "=CORREL(B1:B4,C1:C4)", "COS": "=COS(B1)",
    "COSH": "=COSH(B4)", "COUNT": "=COUNT(A1:D4)+COUNT(E1:E3)", "COUNTA": "=COUNTA(A1:E4)", "COUNTBLANK": "=COUNTBLANK(A1:F4)",
    "COUNTIF": '=COUNTIF(A1:A4,"a")+COUNTIF(C1:C4,">=20")', "COUNTIFS": '=COUNTIFS(A1:A4,"a",C1:C4,">15")',
    "COVAR": "=COVAR(B1:B4,C1:C4)", "COVARIANCE.P": "=COVARIANCE.P(B1:B4,C1:C4)",
    "COVARIANCE.S": "=COVARIANCE.S(B1:B4,C1:C4)", "DATE": "=DATE(2024,14,3)", "DAY": "=DAY(E2)",
    "DAYS": "=DAYS(E2,44000)", "DEGREES": "=DEGREES(B1)", "EDATE": "=EDATE(E2,5)", "EOMONTH": "=EOMONTH(E2,1)",
    "EVEN": "=EVEN(B3)", "EXACT": '=EXACT(A1,"a")', "EXP": "=EXP(B1)", "FACT": "=FACT(5)", "FALSE": "=FALSE()",
    "FIND": '=FIND("o",E1)', "FLOOR": "=FLOOR(7.3,2)", "FLOOR.MATH": "=FLOOR.MATH(B3)",
    "FLOOR.PRECISE": "=FLOOR.PRECISE(7.3,2)", "FV": "=FV(0.05,10,-100,-1000)", "GCD": "=GCD(12,18)",
    "HLOOKUP": "=HLOOKUP(1,C1:D2,2,FALSE)", "IF": "=IF(B1>1,B1*B2,C1)",
    "IFERROR": "=IFERROR(B1/0,B1*5)", "IFNA": "=IFNA(MATCH(9,D1:D4,0),B1)", "IFS": "=IFS(B2<1,1,B2<5,B1*2)",
    "INDEX": "=INDEX(B1:C4,2,2)+SUM(INDEX(B1:C4,0,1))", "INDIRECT": '=INDIRECT("C2")+B1', "INT": "=INT(B3)",
    "IRR": "=IRR({-100,30,40,50})", "ISBLANK": "=ISBLANK(F1)", "ISERR": "=ISERR(B1/0)", "ISERROR": "=ISERROR(B1/0)",
    "ISEVEN": "=ISEVEN(B2)", "ISLOGICAL": "=ISLOGICAL(E4)", "ISNA": "=ISNA(NA())", "ISNONTEXT": "=ISNONTEXT(E1)",
    "ISNUMBER": "=ISNUMBER(B1)", "ISO.CEILING": "=ISO.CEILING(4.3,2)", "ISODD": "=ISODD(B2)",
    "ISTEXT": "=ISTEXT(E1)", "LARGE": "=LARGE(C1:C4,2)", "LEFT": "=LEFT(E1,4)", "LEN": "=LEN(E1)",
    "LN": "=LN(B1)", "LOG": "=LOG(B1*4,2)", "LOG10": "=LOG10(B1*50)", "LOOKUP": "=LOOKUP(2.5,D1:D4,C1:C4)",
    "LOWER": "=LOWER(E1)", "MATCH": "=MATCH(25,C1:C4)+MATCH(\"B\",A1:A4,0)", "MAX": "=MAX(B1:B4)",
    "MAXIFS": '=MAXIFS(C1:C4,A1:A4,"a")', "MEDIAN": "=MEDIAN(B1:B4)", "MID": "=MID(E1,2,3)",
    "MIN": "=MIN(B1:B4)", "MINIFS": '=MINIFS(C1:C4,A1:A4,"a")', "MMULT": "=SUM(MMULT(B1:B2,TRANSPOSE(B1:B2)))",
    "MOD": "=MOD(B1*3.5,B2)", "MONTH": "=MONTH(E2)", "MROUND": "=MROUND(17,5)", "N": "=N(B1)",
    "NA": "=ISNA(NA())", "NORM.DIST": "=NORM.DIST(B1,1,2,TRUE)", "NORM.INV": "=NORM.INV(0.7,1,2)",
    "NORM.S.DIST": "=NORM.S.DIST(B4,TRUE)", "NORM.S.INV": "=NORM.S.INV(0.3)", "NORMDIST": "=NORMDIST(B1,1,2,FALSE)",
    "NORMINV": "=NORMINV(0.7,1,2)", "NORMSDIST": "=NORMSDIST(B4)", "NORMSINV": "=NORMSINV(0.3)",
    "NOT": "=NOT(B1>3)", "NPV": "=NPV(0.1,C1:C4)", "ODD": "=ODD(B1)", "OFFSET": "=SUM(OFFSET(B1,1,0,2,1))+B1",
    "OR": "=OR(B1>5,B2>2)", "PEARSON": "=PEARSON(B1:B4,C1:C4)", "PERCENTILE": "=PERCENTILE(C1:C4,0.3)",
    "PERCENTILE.INC": "=PERCENTILE.INC(C1:C4,0.3)", "PI": "=PI()", "PMT": "=PMT(0.05,10,1000)",
    "POWER": "=POWER(B1,B2)", "PRODUCT": "=PRODUCT(B1:B4)", "PROPER": '=PROPER("hello wORLD")',
    "PV": "=PV(0.05,10,-100)", "QUARTILE": "=QUARTILE(C1:C4,1)", "QUARTILE.INC": "=QUARTILE.INC(C1:C4,3)",
    "QUOTIENT": "=QUOTIENT(17,5)", "RADIANS": "=RADIANS(B1*90)", "RANK": "=RANK(20,C1:C4)",
    "RANK.EQ": "=RANK.EQ(20,C1:C4,1)", "REPT": '=REPT("ab",3)', "RIGHT": "=RIGHT(E1,5)",
    "ROUND": "=ROUND(B1*1.2345,2)+ROUND(2.5,0)", "ROUNDDOWN": "=ROUNDDOWN(-3.789,1)", "ROUNDUP": "=ROUNDUP(3.21,1)",
    "ROW": "=ROW(C3)", "ROWS": "=ROWS(A1:C4)", "SEARCH": '=SEARCH("w*d",E1)', "SIGN": "=SIGN(B3)",
    "SIN": "=SIN(B1)", "SINH": "=SINH(B4)", "SMALL": "=SMALL(C1:C4,2)", "SQRT": "=SQRT(B1)",
    "STDEV": "=STDEV(B1:B4)", "STDEV.P": "=STDEV.P(B1:B4)", "STDEV.S": "=STDEV.S(B1:B4)", "STDEVP": "=STDEVP(B1:B4)",
    "SUBSTITUTE": '=SUBSTITUTE(E1,"o","0")', "SUM": "=SUM(B1:B4,1)", "SUMIF": '=SUMIF(A1:A4,"a",B1:B4)',
    "SUMIFS": '=SUMIFS(B1:B4,A1:A4,"a",C1:C4,">5")', "SUMPRODUCT": "=SUMPRODUCT(B1:B4,C1:C4)",
    "SUMSQ": "=SUMSQ(B1:B4)", "SUMX2MY2": "=SUMX2MY2(B1:B4,D1:D4)", "SUMX2PY2": "=SUMX2PY2(B1:B4,D1:D4)",
    "SUMXMY2": "=SUMXMY2(B1:B4,D1:D4)", "SWITCH": '=SWITCH(A2,"a",1,"b",2,3)', "T": "=T(E1)", "TAN": "=TAN(B4)",
    "TANH": "=TANH(B4)", "TEXT": '=TEXT(B1*1234.5678,"#,##0.00")', "TEXTJOIN": '=TEXTJOIN("-",TRUE,A1:A4)',
    "TODAY": "=TODAY()>40000", "TRANSPOSE": "=SUM(TRANSPOSE(B1:B4))", "TRIM": '=TRIM("  a   b ")',
    "TRUE": "=TRUE()", "TRUNC": "=TRUNC(-B1*1.7)", "UNICHAR": "=UNICHAR(960)", "UNICODE": "=UNICODE(E1)",
    "UPPER": "=UPPER(E1)", "VALUE": "=VALUE(E3)", "VAR": "=VAR(B1:B4)", "VAR.P": "=VAR.P(B1:B4)",
    "VAR.S": "=VAR.S(B1:B4)", "VARP": "=VARP(B1:B4)", "VLOOKUP": "=VLOOKUP(3,D1:D4,1,FALSE)",
    "WEEKDAY": "=WEEKDAY(E2)", "XLOOKUP": '=XLOOKUP("c",A1:A4,C1:C4)', "XOR": "=XOR(B1>1,B2>1)",
    "YEAR": "=YEAR(E2)",
}
# Functions Excel writes with the _xlfn. prefix in files (LibreOffice reads them so).
_XLFN = {"STDEV.S", "STDEV.P", "VAR.S", "VAR.P", "COVARIANCE.P", "COVARIANCE.S", "NORM.DIST", "NORM.INV",
         "NORM.S.DIST", "NORM.S.INV", "PERCENTILE.INC", "QUARTILE.INC", "RANK.EQ", "CEILING.MATH", "FLOOR.MATH",
         "CEILING.PRECISE", "FLOOR.PRECISE", "ISO.CEILING", "IFS", "IFNA", "SWITCH", "XOR", "CONCAT", "TEXTJOIN",
         "MAXIFS", "MINIFS", "XLOOKUP", "UNICODE", "UNICHAR", "DAYS", "ISO.CEILING"}
# Names starting with '_' are forms the reader writes itself (an array formula's cells), not
# Excel functions: tests/test_calc_arrays.py checks them against LibreOffice's array formulas.
NAMES = sorted(n for n in FUNCTIONS if not n.startswith("_"))


def _excel(formula: str) -> str:
    import re
    return re.sub(r"\b(" + "|".join(re.escape(n) for n in sorted(_XLFN, key=len, reverse=True)) + r")\(",
                  lambda m: f"_xlfn.{m.group(1)}(", formula)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("registry") / "registry.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    for ref, v in DATA.items():
        ws[ref] = v
    for i, name in enumerate(NAMES, start=1):
        ws.cell(i, 8, _excel(SAMPLES[name]) if name in SAMPLES else None)
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def interpreted(book):
    ev = Evaluator(read_workbook(book))
    return {name: ev.value(("data", i, 8)) for i, name in enumerate(NAMES, start=1)}


@pytest.fixture(scope="module")
def libreoffice(book):
    import shutil
    if not (shutil.which("soffice") or shutil.which("libreoffice")):
        pytest.skip("LibreOffice (soffice) not found")
    from xlbridge.engine import recalculate_many
    recalculated = recalculate_many([book])[0]
    return {name: recalculated.cell("data", i, 8) for i, name in enumerate(NAMES, start=1)}


def test_every_registry_function_has_a_sample():
    assert not [n for n in NAMES if n not in SAMPLES]


def _same(a, b, tol=1e-9):
    import datetime as dt
    if isinstance(b, dt.datetime):                       # LibreOffice gives dates back as dates
        b = (b - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and isinstance(a, bool) == isinstance(b, bool) or (a in (0, 1) and b in (0, 1) and a == b)
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    return a == b


@pytest.mark.parametrize("name", NAMES)
def test_interpreter_program_and_libreoffice_agree(name, book, interpreted, request):
    got = interpreted[name]
    assert not (isinstance(got, str) and got.startswith("#")), f"{SAMPLES[name]} gave {got}"
    if FUNCTIONS[name].path is not None and "B1" in SAMPLES[name]:
        data = read_workbook(book)
        row = NAMES.index(name) + 1
        x_cells, out = [("data", 1, 2)], [("data", row, 8)]
        prog = compile_program(Evaluator(data, {x_cells[0]: 2.0}), x_cells, out)
        for x in (2.0, 2.3):
            f, g = prog.value_and_grad(np.array([x]))
            want = Evaluator(data, {x_cells[0]: x}).value(out[0])
            assert _same(f, float(want), 1e-12), (name, x, f, want)
            fd = (prog.values_at([x + 1e-6])[0] - prog.values_at([x - 1e-6])[0]) / 2e-6
            assert g[0] == pytest.approx(fd, abs=1e-5 * max(1.0, abs(fd))), (name, x)
    if request.config.getoption("-m") == "not libreoffice":
        return
    lo = request.getfixturevalue("libreoffice")[name]
    if name == "TODAY":
        return
    if lo == "#NAME?" and name in ("XLOOKUP", "ISO.CEILING"):
        pytest.skip(f"this LibreOffice has no {name} (it shows #NAME?); interpreter and program were checked")
    assert _same(got, lo) or _same(float(got) if isinstance(got, bool) else got, lo), (SAMPLES[name], got, lo)
