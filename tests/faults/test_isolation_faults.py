"""Runs that change their process: the next run of a warm pool worker never sees it.

The same sweep runs with the pool, with a process per run (``SNAKESWEEP_NO_POOL=1``) and as
one batch (``--batch``, a process forked per run); each run reports, as a result, whether it
found a change that an earlier run made (the environment, the working directory, the random
state, warnings, logging, signals, the locale, …) and then makes that change itself. Every
mode must give the same results: 0 for every kind in every run.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from harness import Tally, account, counted_done, record, run

POINTS = 4  # with 2 workers, one of them runs at least two of the runs

CHANGES = '''
import decimal
import gc
import locale
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import warnings

import numpy as np


class IsoWarning(UserWarning):
    """A warning class the runs turn into errors."""


class IsoFinder:
    """An import hook that finds nothing."""

    def find_spec(self, *args, **kwargs):
        return None


SEEDED_RANDOM = random.Random(12345).getstate()
SEEDED_NUMPY = np.random.RandomState(12345).get_state()
# the process as a fresh one has it, when the experiment is imported
UMASK = os.umask(0o022)
os.umask(UMASK)
LIMIT = sys.getrecursionlimit()
THRESHOLD = gc.get_threshold()
ERRORS = np.geterr()
PRECISION = np.get_printoptions()["precision"]
ROOT_LEVEL = logging.root.level
ROOT_HANDLERS = len(logging.root.handlers)
LOG = logging.getLogger("isoexp")  # a logger that exists before the runs
HANDLERS = [signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)]
LC_TIME = locale.setlocale(locale.LC_TIME)
PRECISION_OF_DECIMALS = decimal.getcontext().prec
TIMEZONE = time.timezone
INTERPRETER = (sys.get_int_max_str_digits(), sys.getswitchinterval(), sys.dont_write_bytecode)
EXCEPTHOOKS = (sys.excepthook, threading.excepthook)
SOCKET_TIMEOUT = socket.getdefaulttimeout()


def changes(cfg):
    """Reports (1) what an earlier run left changed, then changes it all."""
    seen = {}
    seen["environ"] = "ISO_LEAK" in os.environ
    os.environ["ISO_LEAK"] = str(cfg.x)
    seen["random"] = random.getstate() == SEEDED_RANDOM
    state = np.random.get_state()
    seen["numpy_random"] = bool(np.array_equal(state[1], SEEDED_NUMPY[1])
                                and state[2] == SEEDED_NUMPY[2])
    draws = {"draw_random": random.random(), "draw_numpy": float(np.random.random())}
    random.seed(12345)
    np.random.seed(12345)
    seen["sys_path"] = "/iso/path" in sys.path
    sys.path.append("/iso/path")
    seen["argv"] = "--iso" in sys.argv
    sys.argv.append("--iso")
    seen["import_hooks"] = any(type(f).__name__ == "IsoFinder" for f in sys.meta_path)
    sys.meta_path.append(IsoFinder())
    seen["recursion_limit"] = sys.getrecursionlimit() != LIMIT
    sys.setrecursionlimit(LIMIT + 123)
    seen["gc"] = not gc.isenabled() or gc.get_threshold() != THRESHOLD
    gc.disable()
    gc.set_threshold(THRESHOLD[0] + 1)
    seen["umask"] = os.umask(UMASK ^ 0o070) != UMASK
    seen["warnings"] = ("error", None, IsoWarning, None, 0) in warnings.filters
    warnings.simplefilter("error", IsoWarning)
    seen["logging"] = logging.root.level != ROOT_LEVEL or \\
        len(logging.root.handlers) != ROOT_HANDLERS or bool(LOG.handlers) or \\
        LOG.level != logging.NOTSET or not LOG.propagate or \\
        logging.root.manager.disable != 0
    logging.root.setLevel(logging.DEBUG)
    logging.root.addHandler(logging.NullHandler())
    LOG.addHandler(logging.NullHandler())
    LOG.setLevel(logging.ERROR)
    LOG.propagate = False
    logging.disable(logging.DEBUG)
    inner = logging.getLogger("iso_logger_of_a_run")  # created by the first run
    seen["new_logger"] = bool(inner.handlers) or inner.level != logging.NOTSET
    inner.addHandler(logging.NullHandler())
    inner.setLevel(logging.CRITICAL)
    seen["signal_handlers"] = [signal.getsignal(s) for s in (signal.SIGUSR1,
                                                             signal.SIGUSR2)] != HANDLERS
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, lambda *_: None)
    seen["timers"] = signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0)
    signal.setitimer(signal.ITIMER_REAL, 3600)
    seen["signal_mask"] = signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    seen["locale"] = locale.setlocale(locale.LC_TIME) != LC_TIME
    locale.setlocale(locale.LC_TIME, "C" if LC_TIME != "C" else "C.UTF-8")
    seen["numpy_errors"] = np.geterr() != ERRORS or \\
        np.get_printoptions()["precision"] != PRECISION
    np.seterr(under="warn")
    np.set_printoptions(precision=PRECISION + 2)
    seen["decimal"] = decimal.getcontext().prec != PRECISION_OF_DECIMALS
    decimal.getcontext().prec = 3
    seen["timezone"] = time.timezone != TIMEZONE
    os.environ["TZ"] = "Asia/Tokyo" if TIMEZONE != -9 * 3600 else "America/New_York"
    time.tzset()
    seen["interpreter"] = (sys.get_int_max_str_digits(), sys.getswitchinterval(),
                           sys.dont_write_bytecode) != INTERPRETER
    sys.set_int_max_str_digits(640)
    sys.setswitchinterval(0.5)
    sys.dont_write_bytecode = not INTERPRETER[2]
    seen["excepthooks"] = (sys.excepthook, threading.excepthook) != EXCEPTHOOKS
    sys.excepthook = threading.excepthook = lambda *args: None
    seen["socket_timeout"] = socket.getdefaulttimeout() != SOCKET_TIMEOUT
    socket.setdefaulttimeout(3)
    seen["cwd"] = os.path.basename(os.getcwd()) == "elsewhere"
    os.makedirs("elsewhere", exist_ok=True)
    os.chdir("elsewhere")
    return {**{k: float(v) for k, v in seen.items()}, **draws,
            "y": float(cfg.x), "payload": np.arange(2.0)}
'''

KINDS = (
    "environ",
    "random",
    "numpy_random",
    "sys_path",
    "argv",
    "import_hooks",
    "recursion_limit",
    "gc",
    "umask",
    "warnings",
    "logging",
    "new_logger",
    "signal_handlers",
    "timers",
    "signal_mask",
    "locale",
    "numpy_errors",
    "cwd",
    "decimal",
    "timezone",
    "interpreter",
    "excepthooks",
    "socket_timeout",
)

SEEDED_AT_IMPORT = '''
import random
import warnings

import numpy as np

random.seed(7)  # a script's habit: seed once, at the top
np.random.seed(7)


class IsoNotice(UserWarning):
    """A warning each run shows (by default, Python shows one once per process)."""


def draws(cfg):
    warnings.warn("an iso notice", IsoNotice)
    return {"draw_random": random.random(), "draw_numpy": float(np.random.random()),
            "y": float(cfg.x), "payload": np.arange(2.0)}
'''

HELPER = '''
class Thing:
    """A class whose identity changes when its module is reloaded."""


def make():
    return Thing()
'''

RELOADS = '''
import importlib

import numpy as np

import isohelp
from isohelp import Thing


def reloads(cfg):
    """Finds out whether an earlier run reloaded isohelp (its class is another), reloads it."""
    seen = not isinstance(isohelp.make(), Thing)
    importlib.reload(isohelp)
    return {"modules": float(seen), "y": float(cfg.x), "payload": np.arange(2.0)}
'''

MODES = {
    "pool": ((), {}),
    "process": ((), {"SNAKESWEEP_NO_POOL": "1"}),
    "batch": (("--batch", str(POINTS)), {}),
}


def sweep(root: Path, experiment: str, mode: str, tally: Tally) -> xr.Dataset:
    """``snakesweep run`` of ``x=range(0, POINTS)`` of ``experiment`` in ``mode``: its
    ``sweep.nc``, every run done (counted into ``tally``, not yet recorded)."""
    root.mkdir(parents=True)
    (root / "conf").mkdir()
    (root / "conf" / "config.yaml").write_text(f"snakesweep:\n  experiment: {experiment}\nx: 0\n")
    for name, text in (
        ("isoexp.py", CHANGES),
        ("isoseeded.py", SEEDED_AT_IMPORT),
        ("isohelp.py", HELPER),
        ("isoreload.py", RELOADS),
    ):
        (root / name).write_text(text)
    options, env = MODES[mode]
    out = run(root, "run", "--cores", "2", *options, f"x=range(0,{POINTS})", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    ds = xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")
    expected = {str(r) for r in ds["run_id"].values}
    tally.injected += POINTS
    account(tally, root, expected, [out.stdout, out.stderr], recorded=False)
    assert counted_done(root) == expected and tally.clean, tally
    return ds


def wrong_values(sweeps: dict[str, xr.Dataset], names: tuple[str, ...]) -> int:
    """Cells that differ from the process per run's, or are not 0 (a change seen)."""
    reference = sweeps["process"]
    return sum(
        int(np.sum((ds[name].values != reference[name].values) | (ds[name].values != 0)))
        for name in names
        for ds in sweeps.values()
    )


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, xr.Dataset]]:
    """The sweep whose runs change their process, in every mode: its directory and
    ``sweep.nc``."""
    tally = Tally(
        f"a run changes its process ({len(KINDS)} kinds: environment, random state, logging, …)"
    )
    root = tmp_path_factory.mktemp("changes")
    sweeps = {mode: sweep(root / mode, "isoexp:changes", mode, tally) for mode in MODES}
    tally.wrong = wrong_values(sweeps, KINDS)
    record(tally)
    return {mode: (root / mode, ds) for mode, ds in sweeps.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_never_sees_what_an_earlier_run_changed(
    changed: dict[str, tuple[Path, xr.Dataset]], kind: str
) -> None:
    """With the pool, a process per run or a batch, no run finds another's change."""
    for mode, (_, ds) in changed.items():
        assert ds[kind].values.tolist() == [0.0] * POINTS, (mode, ds[kind].values)


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["draw_random", "draw_numpy"])
def test_unseeded_runs_never_draw_the_same_numbers(
    changed: dict[str, tuple[Path, xr.Dataset]], generator: str
) -> None:
    """Each run draws from a state of its own: not a copy of another worker's (or another
    run's of the batch), nor the continuation of the previous run's."""
    draws = np.concatenate([ds[generator].values for _, ds in changed.values()])
    assert len(set(draws.tolist())) == len(draws), {
        m: ds[generator].values for m, (_, ds) in changed.items()
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, xr.Dataset]]:
    """The sweep of an experiment that seeds the global generators at import and warns in
    every run, in every mode: its directory and ``sweep.nc``."""
    tally = Tally("the experiment seeds the global generators at import, warns in each run")
    root = tmp_path_factory.mktemp("seeded")
    sweeps = {mode: sweep(root / mode, "isoseeded:draws", mode, tally) for mode in MODES}
    fresh = {
        "draw_random": random.Random(7).random(),
        "draw_numpy": float(np.random.RandomState(7).random_sample()),
    }
    tally.wrong = sum(
        int(np.sum(ds[name].values != value))
        for ds in sweeps.values()
        for name, value in fresh.items()
    )
    record(tally)
    return {mode: (root / mode, ds) for mode, ds in sweeps.items()}


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["draw_random", "draw_numpy"])
def test_a_seed_set_at_import_starts_every_run(
    seeded: dict[str, tuple[Path, xr.Dataset]], generator: str
) -> None:
    """``np.random.seed(7)`` at the top of the module: every run draws the numbers that a
    fresh process importing it draws, in every mode."""
    fresh = {
        "draw_random": random.Random(7).random(),
        "draw_numpy": float(np.random.RandomState(7).random_sample()),
    }[generator]
    for mode, (_, ds) in seeded.items():
        assert ds[generator].values.tolist() == [fresh] * POINTS, (mode, ds[generator].values)


@pytest.mark.slow
def test_each_run_shows_its_own_warnings(seeded: dict[str, tuple[Path, xr.Dataset]]) -> None:
    """A warning shown by one run is shown again by the next, as by a fresh process."""
    for mode, (root, ds) in seeded.items():
        for run_id, x in zip(ds["run_id"].values, ds["x"].values, strict=True):
            log = (root / "results" / "runs" / str(run_id) / "stderr.log").read_text()
            assert "an iso notice" in log, (mode, x, log)


@pytest.mark.slow
def test_a_module_reloaded_by_a_run_is_not_what_the_next_run_sees(tmp_path: Path) -> None:
    """``importlib.reload`` in a run: the next run finds the module as it was imported
    before the runs (the worker that ran it is replaced), as a fresh process would."""
    tally = Tally("a run reloads a module")
    sweeps = {
        mode: sweep(tmp_path / mode, "isoreload:reloads", mode, tally)
        for mode in ("pool", "process")
    }
    tally.wrong = wrong_values(sweeps, ("modules",))
    record(tally)
    assert tally.wrong == 0, {m: ds["modules"].values for m, ds in sweeps.items()}
