"""Draw docs/sweep.png, the README's picture of the shipped example's recording.

Runs the example sweep of ``conf/`` (``snakesweep run``) in a temporary copy of the
repository's ``conf/`` and ``workflow/``, then draws its whole recording with rerun's
headless viewer through the function the report uses (``snakesweep.report.render_dataset``:
the recording of ``sweep.nc`` as ``sweep.rrd`` lays it out, the time cursor at the end).

    python docs/make_picture.py [--output docs/sweep.png] [--window 1600x1000] [--cores 2]

Needs a GPU for rerun's viewer, or a software one (Debian: ``apt-get install
mesa-vulkan-drivers``). rerun's analytics stay off: its config lives in the temporary copy.
The picture is twice the window in pixels (rerun draws screenshots as on a high-dpi screen).
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
    parser.add_argument("--window", default="1600x1000", help="the viewer's window, in points")
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    width, height = (int(n) for n in args.window.split("x"))

    import xarray as xr

    from snakesweep.report import PICTURE_SCALE, png_size, render_dataset

    with tempfile.TemporaryDirectory(prefix="snakesweep-picture-") as tmp:
        root = Path(tmp)
        for part in ("conf", "workflow"):
            shutil.copytree(REPO / part, root / part)
        os.environ["XDG_CONFIG_HOME"] = str(root / ".config")  # rerun's settings: analytics
        subprocess.run([sys.executable, "-m", "rerun", "analytics", "disable"], check=True,
                       capture_output=True)
        start = time.monotonic()
        # the report's own pictures are not needed here: the override turns them off
        subprocess.run([sys.executable, "-m", "snakesweep", "run", "--cores", args.cores,
                        "snakesweep.pictures=false"], cwd=root, check=True)
        swept = time.monotonic() - start
        dataset = xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        seconds = render_dataset(dataset, output, window=(width, height))
    size = png_size(output)
    assert size == (width * PICTURE_SCALE, height * PICTURE_SCALE), size
    print(f"{output}: {size[0]}x{size[1]} pixels, drawn in {seconds:.1f} s "
          f"(the sweep: {swept:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
