"""Every notebook executes, top to bottom, on its small configuration, in a real Jupyter kernel.

The notebooks' sources of truth are the jupytext percent-format ``notebooks/*.py`` files; each is
converted to a notebook here and executed with nbclient on the venv's ``python3`` kernel with
``RIPPLE_NOTEBOOK_SCALE=small`` and results written under the test's temporary folder. A cell that
raises fails the test (nbclient raises ``CellExecutionError`` with the cell's traceback).
"""
from __future__ import annotations

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.py")))

pytestmark = [
    # jupyter_client / zmq / traitlets deprecations are not ours to fix (the suite turns warnings into errors)
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:zmq.*"),
]


def test_there_are_notebooks():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {"mvcc_explorer.py", "occ_conflicts.py", "latency.py"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_executes_on_small_config(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("RIPPLE_NOTEBOOK_SCALE", "small")
    monkeypatch.setenv("RIPPLE_NOTEBOOK_RESULTS", str(tmp_path))
    monkeypatch.delenv("RIPPLE_NOTEBOOK_RUN", raising=False)
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": ROOT}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the executed notebook can be saved next to the results (outputs never go into git)
    import nbformat

    nbformat.write(nb, str(tmp_path / (os.path.basename(path)[:-3] + ".ipynb")))
