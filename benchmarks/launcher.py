"""Hydra's launcher plugin: a `python app.py -m` sweep through snakesweep against Hydra's own.

Measured in the same run, interleaved REPEATS times, each in a fresh directory:

- Hydra's BasicLauncher (the default: jobs one after another in the app's process), the
  baseline every ratio is against;
- Hydra's joblib launcher (`hydra/launcher=joblib hydra.launcher.n_jobs=2`), when
  hydra-joblib-launcher is installed;
- `hydra/launcher=snakesweep hydra.launcher.cores=2`, first time (every run computed);
- the same command again (every run done: nothing computed);
- the start-up cost the plugin adds to Hydra: importing its two modules once Hydra's own are
  loaded, against Hydra's start-up to a finished plugin discovery (every installed plugin is
  imported then).

The task sleeps SLEEP seconds and returns a number, so the ratios show the fixed cost of
going through Snakemake against the parallelism it gives.

    python benchmarks/launcher.py [--jobs 8] [--sleep 0.5] [--repeats 3]
    python benchmarks/launcher.py --jobs 400 --sleep 0 --repeats 1   # trivial jobs, issue 27
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

APP = """
import time

import hydra


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    time.sleep(cfg.sleep)
    return cfg.x * 2


if __name__ == "__main__":
    main()
"""


def project(root: Path, sleep: float) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "app.py").write_text(textwrap.dedent(APP))
    (root / "conf" / "config.yaml").write_text(f"x: 0\nsleep: {sleep}\n")
    return root


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def plugin_import_ms() -> tuple[float, float]:
    """(importing the plugin's modules once Hydra's own are loaded, Hydra's start-up to a
    finished plugin discovery), in ms, in a fresh process."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.launcher import Launcher\n"
        "from hydra.core.config_store import ConfigStore\n"
        "import hydra.core.utils, hydra.types, omegaconf\n"
        "t1 = time.perf_counter()\n"
        "import hydra_plugins.snakesweep_launcher.snakesweep_launcher\n"
        "import hydra_plugins.snakesweep_launcher.config\n"
        "t2 = time.perf_counter()\n"
        "Plugins.instance().discover(Launcher)\n"
        "t3 = time.perf_counter()\n"
        "print((t2 - t1) * 1000, (t3 - t0) * 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sweep = [f"x=range(0,{args.jobs})"]
    joblib = importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None
    basic: list[float] = []
    parallel: list[float] = []
    first: list[float] = []
    again: list[float] = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = project(Path(tmp), args.sleep)
            basic.append(timed([sys.executable, "app.py", "-m", *sweep], root))
            if joblib:
                parallel.append(
                    timed(
                        [
                            sys.executable,
                            "app.py",
                            "-m",
                            "hydra/launcher=joblib",
                            "hydra.launcher.n_jobs=2",
                            "hydra.sweep.dir=j",
                            *sweep,
                        ],
                        root,
                    )
                )
            ours = [
                sys.executable,
                "app.py",
                "-m",
                "hydra/launcher=snakesweep",
                "hydra.launcher.cores=2",
                *sweep,
            ]
            first.append(timed([*ours, "hydra.sweep.dir=m1"], root))
            again.append(timed([*ours, "hydra.sweep.dir=m2"], root))
    base = statistics.median(basic)
    print(f"{args.jobs} jobs of {args.sleep} s, median of {args.repeats}:")
    print(f"  {'Hydra BasicLauncher':34s}{base:7.2f} s   1.00x")
    rows = [
        ("Hydra joblib launcher, n_jobs=2", parallel),
        ("snakesweep, every run computed", first),
        ("snakesweep again, nothing computed", again),
    ]
    for name, times in rows:
        if times:
            t = statistics.median(times)
            print(f"  {name:34s}{t:7.2f} s   {t / base:.2f}x")
    if parallel:
        t = statistics.median(parallel)
        print(
            f"  against joblib: snakesweep {statistics.median(first) / t:.2f}x, "
            f"again {statistics.median(again) / t:.2f}x"
        )
    imports = [plugin_import_ms() for _ in range(5)]
    ours = statistics.median(i[0] for i in imports)
    total = statistics.median(i[1] for i in imports)
    print(
        f"plugin start-up: {ours:.2f} ms, against {total:.0f} ms for Hydra's start-up to a "
        f"finished plugin discovery ({ours / total:.2%})"
    )


if __name__ == "__main__":
    main()
