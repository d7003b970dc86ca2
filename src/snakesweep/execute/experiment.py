"""The experiment: its function, imported by the reference the config gives, and what it
returns, as the run's results (an ``xr.Dataset``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from snakesweep import store
from snakesweep.core.entries import BY_VALUE, check_entry, import_entry
from snakesweep.errors import ConfigError, ExperimentError, first_line
from snakesweep.provenance.code import mark_imports, note_loaded

__all__ = ["RESERVED_NAMES", "check_experiment", "load_experiment", "to_dataset"]

RESERVED_NAMES = ("run_id", "status")
"""The sweep's own variables: no result may take their names."""


def load_experiment(
    spec: str, must_call: bool = True, results: str | os.PathLike[str] | None = None
) -> Callable[..., Any]:
    """Import ``'package.module:function'``; a bad name raises ``ConfigError`` naming it.
    ``'__main__:function'`` is the function shipped by value into ``results`` when there is
    one (``BY_VALUE``).

    The project's modules the import loads are counted, and read, as the experiment's code
    (``provenance.code.note_loaded``)."""
    mark_imports()
    module, _, name = str(spec).partition(":")
    try:
        if module == BY_VALUE and results is not None:
            shipped = store.function_file(results, name)
            if shipped.is_file():
                return _unpickled(shipped, spec)
        return import_entry(spec, "snakesweep.experiment", must_call)
    finally:
        note_loaded(module)


def check_experiment(
    spec: str, results: str | os.PathLike[str] | None, imports: bool = True
) -> None:
    """Refuse, with ``ConfigError``, an experiment its runs could not load: one whose module
    cannot exist (``check_entry``), with ``imports`` one that cannot be imported, or one
    shipped by value (``__main__:f``) whose pickle ``results`` lacks."""
    module, _, name = str(spec).partition(":")
    if module == BY_VALUE:
        if results is None or not store.function_file(results, name).is_file():
            raise ConfigError(
                "snakesweep.experiment",
                f"{spec!r} is a function that snakesweep.sweep() ships by value, and "
                f"{results}/{store.FUNCTIONS} holds none named {name!r}: start this sweep "
                "from Python (snakesweep.sweep) once, in this results directory",
            )
        return
    check_entry(spec, "snakesweep.experiment")  # says which name is wrong, importing none
    if imports:
        load_experiment(spec, must_call=False, results=results)


def _unpickled(path: os.PathLike[str], spec: str) -> Callable[..., Any]:
    """The function pickled in ``path`` (by ``snakesweep.sweep``)."""
    import pickle

    try:
        with open(path, "rb") as f:
            fn = pickle.load(f)  # noqa: S301 - written by this sweep's own snakesweep.sweep
    except Exception as exc:  # noqa: BLE001 - a module it needs is missing here, a bad file
        raise ConfigError(
            "snakesweep.experiment",
            f"{spec!r}: the function shipped by value ({path}) cannot be loaded here: "
            f"{type(exc).__name__}: {first_line(exc)} (install what it imports where it runs)",
        ) from None
    if not callable(fn):
        raise ConfigError("snakesweep.experiment", f"{spec!r}: {path} holds no function")
    return fn  # type: ignore[no-any-return]


def to_dataset(result: Any, run_id: str, spec: str, reserved: tuple[str, ...] = ()) -> Any:
    """An experiment's return value as an ``xr.Dataset``, or ``ExperimentError`` saying why not."""
    import numpy as np  # heavy: a run's process loads them when its experiment returns
    import xarray as xr

    if isinstance(result, xr.Dataset):
        variables = dict(result.data_vars)
        ds = result
    elif isinstance(result, Mapping):
        variables = {}
        for name, value in result.items():
            if not isinstance(name, str):
                raise ExperimentError(
                    run_id, f"{spec!r} returned a result named {name!r}: names must be strings"
                )
            if isinstance(value, xr.DataArray):
                variables[name] = value.rename(name)
            elif isinstance(value, (bool, int, float, np.number, np.bool_)):
                variables[name] = xr.DataArray(value)
            elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                variables[name] = xr.DataArray(
                    value, dims=[f"{name}_dim_{i}" for i in range(value.ndim)]
                )
            else:
                raise ExperimentError(
                    run_id,
                    f"{spec!r} returned {name!r} as {type(value).__name__}: expected "
                    "a number, a numeric numpy array or an xarray.DataArray",
                )
        try:
            ds = xr.Dataset(variables)
        except ValueError as exc:  # sizes that conflict, a scalar named like a dimension
            raise ExperimentError(
                run_id,
                f"{spec!r} returned results that do not fit in one Dataset: {first_line(exc)}",
            ) from None
    else:
        raise ExperimentError(
            run_id,
            f"{spec!r} returned {type(result).__name__}: expected an xarray.Dataset "
            "or a mapping of names to numbers, numpy arrays or xarray.DataArrays",
        )
    for name, var in variables.items():
        if var.dtype.kind not in "biuf":
            raise ExperimentError(
                run_id,
                f"{spec!r} returned {name!r} of dtype {var.dtype}: "
                "results must be numbers (bool, int or float)",
            )
    for name, coord in ds.coords.items():
        if getattr(coord.dtype, "tz", None) is not None:  # pandas' DatetimeTZDtype
            raise ExperimentError(
                run_id,
                f"{spec!r} returned the coordinate {name!r} of times with a time zone "
                f"({coord.dtype}), which NetCDF cannot store: give it times without one "
                "(`.tz_convert(None)` gives them in UTC)",
            )
    ds = _named_dimensions(ds, run_id, spec)
    clash = [n for n in (*variables, *ds.dims, *ds.coords) if n in (*RESERVED_NAMES, *reserved)]
    if clash:
        raise ExperimentError(
            run_id,
            f"{spec!r} returned {clash[0]!r}, which is the name of "
            "a swept key or of 'run_id'/'status': rename it",
        )
    return ds


def _named_dimensions(ds: Any, run_id: str, spec: str) -> Any:
    """``ds`` with each result named like a dimension of others made that dimension's
    coordinate, as xarray reads a variable named like a dimension (``{"time": t, "signal":
    xr.DataArray(s, dims="time")}``: ``signal`` over ``time`` labelled by ``t``);
    ``ExperimentError`` when it cannot be (not one value per position along it)."""
    for name in [str(n) for n, c in ds.coords.items() if n in ds.dims and c.dims != (n,)]:
        coord = ds[name].variable
        if coord.ndim != 1 or coord.size != ds.sizes[name]:
            raise ExperimentError(
                run_id,
                f"{spec!r} returned {name!r} of shape {coord.shape} beside results "
                f"along a dimension {name!r} of length {ds.sizes[name]}: a result named like "
                "a dimension is its coordinate, one value per position; rename one of them",
            )
        ds = ds.drop_vars(name).assign_coords(
            {name: (name, coord.values, coord.attrs, coord.encoding)}
        )
    return ds
