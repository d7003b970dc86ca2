"""Where a plan is cached, and when a cached plan is the one to use.

Snakemake parses the Snakefile again and again (and once per job on a cluster), so a plan
is stored under ``<results>/.snakesweep/plans/`` keyed by everything it depends on: the
files of the config directory, the primary config's name, the overrides, and the versions
of snakesweep, Hydra and OmegaConf. Loading a cached plan imports neither Hydra nor
xarray and composes nothing.

A cache is checked before it is trusted: each of its two files ends with the sha256 of
the rest of it (``seal``), the plan file names the key it was made for and the digest of
its configs file, so a file cut short, overwritten, edited (two run ids swapped) or paired
with another plan's is made again (``make_plan``) or refused in one line (``load_plan``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from snakesweep import store
from snakesweep.errors import ConfigError
from snakesweep.planning.plan import PLAN_FORMAT, Plan, configs_path
from snakesweep.planning.rounds import round_due
from snakesweep.planning.seal import Unverified, unseal
from snakesweep.planning.sources import sources_changed

__all__ = ["plan_key", "plan_path", "usable_cache", "verified_plan"]


def plan_key(config_dir: str | os.PathLike[str], config_name: str, overrides: Sequence[str]) -> str:
    """A hash of everything a plan depends on.

    The files of the config directory and of ``file://`` directories the primary config
    adds to Hydra's search path, the environment variables ``${oc.env:…}`` reads, the
    config name, the overrides, and the versions of snakesweep, Hydra and OmegaConf.
    (``pkg://`` search paths and custom resolvers are not followed.)
    """
    h = hashlib.sha256()
    versions = [f"{d}={version(d)}" for d in ("snakesweep", "hydra-core", "omegaconf")]
    h.update(json.dumps([PLAN_FORMAT, versions, config_name, list(overrides)]).encode())
    root = Path(config_dir)
    if not root.is_dir():
        raise ConfigError(
            f"config directory {str(config_dir)!r}",
            ("is a file, not a directory" if root.exists() else "does not exist")
            + " (give it with -cd/--config-dir, or write one here with `snakesweep init`)",
        )
    roots = [root, *_search_path_dirs(root, config_name)]
    for top in roots:
        for path in _config_files(top):
            text = path.read_bytes()
            h.update(path.relative_to(top).as_posix().encode() + b"\0" + text + b"\0")
            for name in _ENV_REFERENCE.findall(text):  # ${oc.env:NAME} resolves per process
                h.update(name + b"=" + os.environb.get(name, b"\0") + b"\0")
    return h.hexdigest()[:16]


_ENV_REFERENCE = re.compile(rb"\$\{\s*(?:oc\.env|env)\s*:\s*([A-Za-z_][A-Za-z0-9_]*)")


def _config_files(root: Path) -> list[Path]:
    """Every file under ``root`` but hidden ones, in a fixed order."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath, n) for n in sorted(filenames) if not n.startswith("."))
    return files


def _search_path_dirs(root: Path, config_name: str) -> list[Path]:
    """Directories the primary config adds with ``hydra.searchpath: [file://…]``."""
    import yaml  # deferred: a run's process imports snakesweep, and needs no yaml

    primary = root / f"{config_name}.yaml"
    try:
        data = yaml.safe_load(primary.read_text(encoding="utf-8")) if primary.is_file() else None
    except (OSError, yaml.YAMLError):
        return []
    entries = (
        ((data or {}).get("hydra") or {}).get("searchpath") or [] if isinstance(data, dict) else []
    )
    dirs = []
    for entry in entries:
        if isinstance(entry, str) and entry.startswith("file://"):
            path = Path(entry[len("file://") :])
            dirs.append(path if path.is_absolute() else Path.cwd() / path)
    return [d for d in dirs if d.is_dir()]


def plan_path(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str],
    results: str | os.PathLike[str],
) -> Path:
    """Where the plan for these arguments is cached."""
    return store.plan_file(results, plan_key(config_dir, config_name, overrides))


def verified_plan(path: Path) -> Plan:
    """The plan cached at ``path``, once both of its files check out: each against the
    digest it ends with, the plan file against the key of its name (what the plan was
    made from), the configs file against the digest the plan file records.

    The plan file is read and hashed (a few ms for 100,000 points). The configs file
    (eight times larger) is hashed here only when its ``os.stat`` (size, modification
    time, inode) is not the one the plan file records, as ``checksums`` does for results;
    it is hashed whenever it is read (``Plan.configs``), so what is used is always
    checked."""
    try:
        data, _ = unseal(path.read_bytes(), "plan file")
        if data.get("format") != PLAN_FORMAT:
            raise Unverified(f"was made by another snakesweep (format {data.get('format')!r})")
        if data.get("key") != path.stem:
            raise Unverified(f"was made for another sweep (key {data.get('key')!r})")
        side = configs_path(path)
        st = os.stat(side)
        if [st.st_size, st.st_mtime_ns, st.st_ino] != data.get("configs_stat"):
            unseal(side.read_bytes(), "configs file", data.get("configs_sha256"), parse=False)
        return Plan.from_json(data, path)
    except OSError as exc:
        raise Unverified(f"cannot be read ({exc.strerror or exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise Unverified(f"is not a plan ({exc!r})") from None


def usable_cache(
    path: Path, results: str | os.PathLike[str], grows: bool = True
) -> tuple[Plan | None, bool]:
    """The cached plan at ``path`` (None when there is none, it was made with other code,
    or it does not verify: see ``verified_plan``) and whether it is the current plan
    (False: an adaptive sweep's next round is due, and ``grows``: it can be made now)."""
    if not (path.is_file() and configs_path(path).is_file()):
        return None, False
    try:
        cached = verified_plan(path)
    except Unverified as exc:
        print(
            f"snakesweep: the cached plan {str(path)!r} {exc}; making it again",
            file=sys.stderr,
            flush=True,
        )
        return None, False
    if sources_changed(cached.sources):
        return None, False  # made with other code: every round is decided again
    if not cached.rounds or cached.rounds["complete"] or not grows:
        return cached, True
    return cached, not round_due(cached, results)  # else the next round is made now
