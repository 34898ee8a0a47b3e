"""The companion notebooks (notebooks/*.ipynb) run top to bottom and are stored without outputs.

Each notebook checks its own numbers with assertions: the workbook recalculated by LibreOffice
against the PyTorch model run in the notebook. So a notebook that runs to the end is a notebook
whose numbers agree, and the test only has to run it: a copy, in a temporary folder, executed by
nbclient in a kernel that imports this checkout's xlbridge; the first cell that raises fails it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300     # nbclient's limit per cell; each notebook takes well under a minute in all
MAX_CELL_LINES = 25      # short cells: one step each, explained by the markdown cell before it


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["char_rnn.ipynb", "collab_filter.ipynb", "collab_training.ipynb",
                                           "graddesc.ipynb", "solver.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    """Outputs are made by running a notebook, never committed: no outputs, no execution counts,
    no timing metadata."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name}: cell {i} has execution timing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_readable_by_a_student(path):
    """A title first; markdown before the first code cell; every code cell short."""
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.cells[1].cell_type == "markdown"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            lines = len(cell.source.splitlines())
            assert lines <= MAX_CELL_LINES, f"{path.name}: cell {i} has {lines} lines (at most {MAX_CELL_LINES})"


@pytest.mark.libreoffice
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path, tmp_path, monkeypatch):
    """Execute a copy of the notebook; it writes its workbooks under a temporary folder (here
    inside tmp_path, through TMPDIR) and nothing beside itself."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed: pip install -e '.[test]'")
    pytest.importorskip("ipykernel", reason="ipykernel not installed: pip install -e '.[test]'")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    copy = Path(shutil.copy(path, folder))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))    # the kernel's tempfile folders, cleaned up with tmp_path
    # the kernel imports this checkout's xlbridge, whatever else is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")   # plots inline, even where CI sets Agg

    nb = nbformat.read(copy, as_version=4)
    # One more cell ends LibreOffice (and removes its profile), and the kernel is then ended at
    # once, as `xlbridge` ends its own process (cli.main): tearing down torch's modules would take
    # it another second or two
    nb.cells.append(nbformat.v4.new_code_cell("from xlbridge.engine import shutdown\nshutdown()"))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", shutdown_kernel="immediate",
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()    # raises CellExecutionError, with the cell and its traceback, on the first failure

    assert [p.name for p in folder.iterdir()] == [path.name], "the notebook wrote files beside itself"
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in shown if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in shown), "the notebook drew no plot"
