"""Devices: the GPUs a running run may use (``snakesweep.devices``), as ``CUDA_VISIBLE_DEVICES``.

As batchflow's Research splits its devices among its workers, each running run holds one
*slot*: one entry of ``snakesweep.devices`` (a device, or a group such as ``"0,1"``); at
most ``snakesweep.runs_per_device`` runs (default 1) use one device at once. The slot is
set in ``CUDA_VISIBLE_DEVICES`` before the run starts, in its process: a pool worker holds
one slot for its life (it is forked after the pool imported the experiment, so a library
that reads the variable at import rather than when CUDA starts would not see it), a run's
own process (``python -m snakesweep.execute``) and a batch's process
(``snakesweep.batches``, before it imports the experiment) hold one while they run.

A slot is held by advisory locks (``flock``) on files named by device id in
``$TMPDIR/snakesweep-<uid>/devices/`` (per SLURM job, whose devices SLURM chose), so the
runs of one user's processes and sweeps on one machine (with one ``TMPDIR``) never share a
device beyond ``runs_per_device``; the kernel drops a lock however its process ends. A run
that finds every slot taken waits.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from snakesweep.core.options import Options

__all__ = ["VISIBLE", "capacity", "devices_of", "hold_for_process", "slot", "slots_dir"]

VISIBLE = "CUDA_VISIBLE_DEVICES"

_held: list[str] = []
"""The slot this process holds (its device), if any: a run inside a pool worker or a batch
uses the one its process holds rather than taking another."""


def devices_of(options: Options) -> list[str] | None:
    """``snakesweep.devices``: the slots' devices, or None when runs get no devices.

    A list (of ids, or of ``"0,1"`` groups), one id, or ``auto``: the devices this process
    may see (``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``; none is no device).
    """
    if options.devices == "auto":
        return _visible_devices()
    return None if options.devices is None else list(options.devices)


def capacity(options: Options) -> int | None:
    """How many runs may run at once on this machine's devices; None when unlimited."""
    devices = devices_of(options)
    if not devices:  # none set, or `auto` found none: runs take no slot
        return None
    return len(devices) * options.runs_per_device


def _visible_devices() -> list[str]:
    visible = os.environ.get(VISIBLE)
    if visible is not None:
        return [d for d in visible.replace(" ", "").split(",") if d]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def slots_dir() -> Path:
    """Where this machine's slot locks live (per SLURM job, whose devices SLURM chose)."""
    scope = os.environ.get("SLURM_JOB_ID") or "host"
    return Path(tempfile.gettempdir(), f"snakesweep-{os.getuid()}", "devices", scope)


@contextmanager
def slot(options: Options) -> Iterator[str | None]:
    """Hold a slot of ``snakesweep.devices`` for this process and set
    ``CUDA_VISIBLE_DEVICES`` to it; yields the device (None when runs get no devices, or
    the slot this process already holds)."""
    if _held or options.devices is None:
        yield _held[0] if _held else None
        return
    devices = devices_of(options) or []
    if not devices:  # `auto` found none: the run sees no device
        saved = os.environ.get(VISIBLE)
        os.environ[VISIBLE] = ""
        try:
            yield ""
        finally:
            _restore(saved)
        return
    handles, device = _acquire(devices, options.runs_per_device)
    saved = os.environ.get(VISIBLE)
    os.environ[VISIBLE] = device
    _held.append(device)
    try:
        yield device
    finally:
        _held.clear()
        _restore(saved)
        for handle in handles:
            handle.close()


def hold_for_process(options: Options) -> str | None:
    """Take a slot for the rest of this process's life (a pool worker); its device."""
    manager = slot(options)
    device = manager.__enter__()
    _keep.append(manager)
    return device


_keep: list[Any] = []


def _restore(saved: str | None) -> None:
    if saved is None:
        os.environ.pop(VISIBLE, None)
    else:
        os.environ[VISIBLE] = saved


def _acquire(devices: list[str], share: int) -> tuple[list[IO[str]], str]:
    """Lock the first free slot, waiting while all are taken: a slot is an entry of
    ``devices`` (a device or a group), held by taking one of ``share`` locks of each of its
    devices, named by the device's id (so sweeps with other lists still never share one)."""
    where = slots_dir()
    where.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        for k in range(share):
            for device in devices:
                held = _lock_all(where, sorted(set(device.split(","))), k)
                if held is not None:
                    return held, device
        if not said:
            print(
                f"snakesweep: every device slot ({len(devices) * share}) is in use; "
                "waiting for one",
                file=sys.stderr,
                flush=True,
            )
            said = True
        time.sleep(0.05)


def _lock_all(where: Path, ids: list[str], k: int) -> list[IO[str]] | None:
    """Lock ``<id>.<k>`` of every id, or none of them."""
    held: list[IO[str]] = []
    for device in ids:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", device)
        handle = open(where / f"{name}.{k}.lock", "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            for h in held:
                h.close()
            return None
        held.append(handle)
    return held
