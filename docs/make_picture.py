"""Draw docs/sweep.png, the README's picture of the shipped example's results.

Runs the example sweep of ``conf/`` (``snakesweep run``) in a temporary copy of the
repository's ``conf/`` and ``workflow/``, then draws every result variable of its
``sweep.nc`` into one figure with the module the report uses (``snakesweep.pictures``:
matplotlib's Agg canvas; no display, no GPU).

    python docs/make_picture.py [--output docs/sweep.png] [--dpi 110] [--cores 2]

rerun's analytics stay off: its config lives in the temporary copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO / "docs" / "sweep.png"))
    parser.add_argument("--dpi", type=int, default=110, help="pixels per inch")
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()

    import xarray as xr

    from snakesweep.store import replace_with
    from snakesweep.view.pictures import draw_sweep
    from snakesweep.view.screenshots import png_size

    with tempfile.TemporaryDirectory(prefix="snakesweep-picture-") as tmp:
        root = Path(tmp)
        for part in ("conf", "workflow"):
            shutil.copytree(REPO / part, root / part)
        os.environ["XDG_CONFIG_HOME"] = str(root / ".config")  # rerun's settings: analytics
        subprocess.run(
            [sys.executable, "-m", "rerun", "analytics", "disable"], check=True, capture_output=True
        )
        start = time.monotonic()
        # the report's own pictures are not needed here: the override turns them off
        subprocess.run(
            [
                sys.executable,
                "-m",
                "snakesweep",
                "run",
                "--cores",
                args.cores,
                "snakesweep.pictures=false",
            ],
            cwd=root,
            check=True,
        )
        swept = time.monotonic() - start
        dataset = xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")
    start = time.monotonic()
    figure = draw_sweep(dataset)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    replace_with(output, lambda tmp: figure.savefig(tmp, format="png", dpi=args.dpi))
    seconds = time.monotonic() - start
    size = png_size(output)
    assert size is not None, output
    print(
        f"{output}: {size[0]}x{size[1]} pixels, drawn in {seconds:.2f} s (the sweep: {swept:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
