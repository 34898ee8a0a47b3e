"""Workbook builders: one module per workbook (cells, formulas, names, styles)."""
