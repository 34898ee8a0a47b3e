"""xlbridge: course workbooks with live formulas, proven equal to PyTorch models.

Data flows one way: ratings/text -> xlbridge.data -> builders -> workbook file
-> xlbridge.engine (LibreOffice recalculation) -> xlbridge.parity (compare with models/).
"""

import os

# openpyxl writes its XML through lxml when lxml is installed and through the standard library
# otherwise, and the two differ in bytes. Builds are byte-for-byte reproducible (the committed
# workbooks are a fresh build) only if every install takes one path: the standard library's,
# which also keeps defusedxml guarding what openpyxl reads. Read when openpyxl is first imported.
os.environ.setdefault("OPENPYXL_LXML", "False")

__version__ = "0.1.0"
