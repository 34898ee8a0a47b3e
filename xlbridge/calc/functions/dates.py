"""Dates as Excel stores them: serial numbers of days since 1899-12-30 (the 1900 system,
whose phantom 29 February 1900 makes serials from March 1900 on line up with that epoch)."""

from __future__ import annotations

import calendar
import datetime as dt

from xlbridge.calc.functions import function
from xlbridge.calc.values import CellError

EPOCH = dt.date(1899, 12, 30)


def to_date(serial: float) -> dt.date:
    if serial < 1 or serial > 2958465:
        raise CellError("#NUM!")
    return EPOCH + dt.timedelta(days=int(serial))


def to_serial(d: dt.date) -> float:
    return float((d - EPOCH).days)


@function("DATE", "nnn")
def _date(y, m, d):
    y, m, d = int(y), int(m), int(d)
    if 0 <= y < 1900:
        y += 1900
    y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return to_serial(dt.date(y, m, 1)) + d - 1


function("YEAR", "n")(lambda s: float(to_date(s).year))
function("MONTH", "n")(lambda s: float(to_date(s).month))
function("DAY", "n")(lambda s: float(to_date(s).day))
function("DAYS", "nn")(lambda end, start: float(int(end) - int(start)))


@function("WEEKDAY", "nn")
def _weekday(s, kind=None):
    wd = to_date(s).isoweekday()              # Monday 1 .. Sunday 7
    kind = 1 if kind is None else int(kind)
    if kind == 1:
        return float(wd % 7 + 1)               # Sunday 1
    if kind == 2:
        return float(wd)
    if kind == 3:
        return float(wd - 1)
    raise CellError("#NUM!")


def _add_months(s, months):
    d = to_date(s)
    m = d.month - 1 + int(months)
    y, m = d.year + m // 12, m % 12 + 1
    return y, m, d.day


@function("EDATE", "nn")
def _edate(s, months):
    y, m, day = _add_months(s, months)
    return to_serial(dt.date(y, m, min(day, calendar.monthrange(y, m)[1])))


@function("EOMONTH", "nn")
def _eomonth(s, months):
    y, m, _ = _add_months(s, months)
    return to_serial(dt.date(y, m, calendar.monthrange(y, m)[1]))


@function("TODAY", "", volatile=True)
def _today():
    return to_serial(dt.date.today())
