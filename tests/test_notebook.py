"""The example notebook (``examples/sweep.ipynb``), executed as Jupyter executes it: a
kernel (ipykernel) driven by nbclient, in a fresh git repository of its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "sweep.ipynb"

pytestmark = pytest.mark.slow


def executed(root: Path) -> list[dict[str, str]]:
    """Run the notebook in ``root``; each code cell's outputs joined by kind: its streams
    (``stdout``, ``stderr``), its ``text/plain``, and the kinds of data it displayed."""
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    notebook = nbformat.read(root / NOTEBOOK.name, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        out = {"stdout": "", "stderr": "", "text": "", "kinds": ""}
        for output in cell.outputs:
            if output.output_type == "stream":
                out[output.name] += output.text
            elif output.output_type == "error":
                raise AssertionError(f"{output.ename}: {output.evalue}")
            elif "data" in output:
                out["text"] += output.data.get("text/plain", "")
                out["kinds"] += " ".join(output.data) + " "
        cells.append(out)
    return cells


def test_the_example_notebook_sweeps_filters_and_plots(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("results/\n.snakemake/\n")
    _, swept, energy, filtered, plotted, planned, again = executed(tmp_path)
    assert swept["text"] == "<Results 'results': 6 runs (6 done)>"
    assert "text/html" in swept["kinds"]  # the Dataset's own HTML and the run table
    assert "6/6" in swept["stderr"] and "0 failed, 0 pending" in swept["stderr"]  # the bar
    assert "snakesweep: 6 done, 0 pending, 0 failed" in swept["stderr"]
    assert "Building DAG" not in swept["stderr"]  # Snakemake's own output: in its log
    assert "freq" in energy["text"] and "0.0922" in energy["text"]
    assert filtered["text"] == "{'freq': 3, 'damping': 1, 'time': 40}"
    assert "image/png" in plotted["kinds"]
    assert planned["stdout"].startswith("6 {'done': 6,")
    assert planned["text"].count(" done") == 6
    assert again["stdout"].strip() == "<Results 'results': 6 runs (6 done)>"
    assert "nothing to be done" in again["stderr"]
    log = (tmp_path / "results" / ".snakesweep" / "logs" / "snakemake.log").read_text()
    assert log.count("# snakesweep.sweep, ") == 2 and log.count("Building DAG of jobs") == 1
