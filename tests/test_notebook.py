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


EDITED = [  # cells a user adds after the notebook's: the experiment's cell edited, run again
    """def oscillator(freq=1.0, damping=0.1, steps=40):
    t = np.linspace(0.0, 10.0, steps)
    signal = np.exp(-2 * damping * t) * np.cos(2 * np.pi * freq * t)  # edited
    return {
        "signal": xr.DataArray(signal, dims="time", coords={"time": t}),
        "energy": float(np.mean(signal[-10:] ** 2)),
    }""",
    """edited = snakesweep.Sweep(oscillator, {"freq": [0.5, 1.0, 2.0], "damping": [0.1, 0.3]})
print(edited.status())
print(edited.run(cores=2))""",
]


def executed(root: Path, more: list[str] = EDITED) -> list[dict[str, str]]:
    """Run the notebook in ``root``, then the cells ``more``; each code cell's outputs
    joined by kind: its streams (``stdout``, ``stderr``), its ``text/plain``, and the kinds
    of data it displayed."""
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    notebook = nbformat.read(root / NOTEBOOK.name, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in more)
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
    _, swept, energy, filtered, plotted, planned, again, _, edited = executed(tmp_path)
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
    # the cell edited: every run is stale, and computed again
    assert edited["stdout"].splitlines() == [
        "{'done': 0, 'stale': 6, 'corrupt': 0, 'pending': 0, 'failed': 0}",
        "<Results 'results': 6 runs (6 done)>",
    ]
    log = (tmp_path / "results" / ".snakesweep" / "logs" / "snakemake.log").read_text()
    assert log.count("# snakesweep.sweep, ") == 3 and log.count("Building DAG of jobs") == 2
