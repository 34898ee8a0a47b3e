"""xlbridge: course workbooks with live formulas, proven equal to PyTorch models.

Data flows one way: ratings/text -> xlbridge.data -> builders -> workbook file
-> xlbridge.engine (LibreOffice recalculation) -> xlbridge.parity (compare with models/).
"""

__version__ = "0.1.0"
