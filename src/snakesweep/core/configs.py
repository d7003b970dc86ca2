"""Configs: composing each point with Hydra, the canonical form, and the run id."""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from snakesweep.core import plain_compose
from snakesweep.core.grid import parse_override
from snakesweep.core.option_values import NODE
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError, OverrideError, first_line

# Hydra, OmegaConf (~0.3 s to import) and PyYAML are imported where a config is composed
# or converted: a run id of plain data, and the store (every process) that hashes one, need
# none of them.

__all__ = [
    "IGNORED_NODES",
    "RUN_ID_LENGTH",
    "RUN_ID_PATTERN",
    "Composer",
    "canonical_json",
    "identity_of",
    "resolve_config",
    "run_id_of",
]

RUN_ID_LENGTH = 16
RUN_ID_PATTERN = r"[0-9a-f]{16}"
IGNORED_NODES = ("hydra", "snakesweep")
"""Top-level nodes left out of a run's identity: Hydra's runtime and snakesweep's options
(all but ``snakesweep.experiment``: what computes a run is part of what the run is)."""


def canonical_json(config: Any) -> str:
    """The canonical JSON text of a config, from which the run id is hashed.

    The rules, so that equal configs give equal text in any process, machine or Python:

    - OmegaConf containers are converted with every interpolation resolved; a missing
      mandatory value (``???``) is an error naming its key.
    - Mappings become JSON objects with keys sorted by code point; keys must be strings.
    - Lists and tuples become arrays, numpy arrays their ``tolist()``.
    - ``True``/``False`` stay booleans (``true`` is not ``1``).
    - Numbers are compared by value: an integral float is written as an integer
      (``1.0`` and ``1`` are the same config), other floats in Python's shortest
      round-trip form (``0.1``), NaN and infinities as the strings ``"NaN"``,
      ``"Infinity"`` and ``"-Infinity"``. numpy scalars count as the Python number
      they equal.
    - ``None`` is ``null``; enums are written by name; paths as strings.
    - No whitespace, ASCII only (``\\uXXXX`` escapes), UTF-8 bytes when hashed.
    """
    plain = _to_plain(config)
    try:
        canonical = _canonical_plain(plain)
    except _NotPlain:  # numpy, enums, paths, or an error to name by its key
        canonical = _canonical(plain, "config")
    return json.dumps(
        canonical,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def identity_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that names a run.

    Everything but ``IGNORED_NODES``, plus ``snakesweep.experiment`` when it is set.
    """
    identity = {k: v for k, v in config.items() if k not in IGNORED_NODES}
    options = config.get("snakesweep")
    if isinstance(options, Mapping) and options.get("experiment") is not None:
        identity["snakesweep"] = {"experiment": options["experiment"]}
    return identity


def run_id_of(config: Any) -> str:
    """The run id: the first 16 hex digits of SHA-256 over the canonical JSON of
    ``identity_of(config)``."""
    plain = _to_plain(config)
    if not isinstance(plain, Mapping):
        raise TypeError(f"a config is a mapping, got {type(plain).__name__}")
    text = canonical_json(identity_of(plain))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:RUN_ID_LENGTH]


_PLAIN = (dict, list, str, int, float, bool, type(None))


def _to_plain(obj: Any) -> Any:
    if type(obj) in _PLAIN:
        return obj
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if isinstance(obj, (DictConfig, ListConfig)):
        try:
            return OmegaConf.to_container(
                obj, resolve=True, throw_on_missing=True, enum_to_str=True
            )
        except MissingMandatoryValue as exc:
            raise ConfigError(_full_key(exc), "missing mandatory value (???): set it") from None
        except OmegaConfBaseException as exc:
            raise ConfigError(_full_key(exc), first_line(exc)) from None
    return obj


class _NotPlain(Exception):
    pass


def _canonical_plain(obj: Any) -> Any:
    """``_canonical`` of plain JSON data, without tracking where it is (the common case)."""
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is dict:
        return _canonical_plain_dict(obj)
    if kind is float:
        return _canonical_float(obj)
    if kind is list or kind is tuple:
        return [_canonical_plain(v) for v in obj]
    raise _NotPlain


def _canonical_plain_dict(obj: dict[Any, Any]) -> dict[str, Any]:
    """``_canonical_plain`` of a dict: its values canonical, its keys strings."""
    out = {}
    for k, v in obj.items():
        if type(k) is not str:
            raise _NotPlain
        t = type(v)
        out[k] = v if (t is str or t is int or t is bool or v is None) else (_canonical_plain(v))
    return out


def _canonical_float(x: float) -> Any:
    """A float by its value: an integral one (below 2**53) as an integer, NaN and the
    infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _canonical(obj: Any, where: str) -> Any:
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if type(k) is not str:
                raise ConfigError(f"{where}.{k}", f"keys must be strings, got {type(k).__name__}")
            out[k] = _canonical(v, f"{where}.{k}")
        return out
    return _canonical_other(obj, where)


def _canonical_other(obj: Any, where: str) -> Any:
    import numpy as np  # heavy: only a config that holds more than plain data needs it

    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _canonical_float(float(obj))
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where}.{k}", f"keys must be strings, got {type(k).__name__}")
            out[k] = _canonical(v, f"{where}.{k}")
        return out
    if isinstance(obj, np.ndarray):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj.tolist())]
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, PurePath):
        return str(obj)
    raise ConfigError(where, f"cannot be hashed: {type(obj).__name__} is not a config value")


class Composer:
    """Composes the points of one config tree as Hydra's ``compose()`` would.

    ``compose()`` costs tens of milliseconds, so it runs once per combination of
    config-group choices; each point's value overrides are then applied to a copy with
    Hydra's own override logic, which gives the same config (tests prove it).
    Use as a context manager: it owns Hydra's global state while open.
    """

    def __init__(self, config_dir: str | os.PathLike[str], config_name: str) -> None:
        self.config_dir = Path(config_dir).resolve()
        self.config_name = config_name
        self._bases: dict[tuple[str, ...], _Base] = {}
        self._parsed: dict[str, Any] = {}
        self._is_value: dict[str, bool] = {}
        self._effects: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], Any] | None] = {}

    def __enter__(self) -> Composer:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        if not self.config_dir.is_dir():
            raise ConfigError(f"config directory {str(self.config_dir)!r}", "does not exist")
        if not any(
            (self.config_dir / f"{self.config_name}{ext}").is_file()
            for ext in ("", ".yaml", ".yml")
        ):
            raise ConfigError(
                f"config name {self.config_name!r}",
                f"no such primary config in {str(self.config_dir)!r}"
                + _names_there(self.config_name, self.config_dir),
            )
        GlobalHydra.instance().clear()
        self._init = initialize_config_dir(
            config_dir=str(self.config_dir), version_base="1.3", job_name="snakesweep"
        )
        self._init.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._init.__exit__(*exc)

    @property
    def config_loader(self) -> Any:
        from hydra.core.global_hydra import GlobalHydra

        return GlobalHydra.instance().config_loader()

    def compose_master(self, overrides: Sequence[str]) -> Any:
        """The primary config as Hydra's multirun composes it (sweeps left out)."""
        from hydra.types import RunMode

        for text in overrides:
            parse_override(text)  # a rejected override is named before Hydra composes
        return self._compose(list(overrides), RunMode.MULTIRUN, keep_hydra=True)

    def resolve_point(
        self, overrides: Sequence[str], hydra_overrides: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The resolved config of one point: ``compose(config_name, overrides)``, resolved.

        Built on plain data when it can be (see ``plain_compose``), else composed.
        """
        is_value = self._is_value
        values = []
        group = []
        for o in overrides:
            if is_value[o] if o in is_value else self._value_override(o):
                values.append(o)
            else:
                group.append(o)
        base = self._base(tuple(group), hydra_overrides)
        if base.fast:
            known = base.effects
            effects = []
            for o in values:
                effect = known.get(o, _UNKNOWN)
                if effect is _UNKNOWN:
                    effect = known[o] = self._effect(base, o)
                effects.append(effect)
            if all(e is not None for e in effects):
                paths = tuple(e[0] for e in effects)  # type: ignore[index]
                apart = base.apart.get(paths)
                if apart is None:
                    apart = base.apart[paths] = not plain_compose.overlapping(paths)
                if apart:
                    plain = plain_compose.assign_all(base.plain, effects)  # type: ignore[arg-type]
                    resolved = plain_compose.resolve(plain, base.interpolations)
                    if resolved is not None:
                        return resolved
        return resolve_config(self.compose_point(overrides, hydra_overrides))

    def compose_point(self, overrides: Sequence[str], hydra_overrides: Sequence[str] = ()) -> Any:
        """What ``compose(config_name, overrides)`` returns (one compose() per group choice)."""
        group = tuple(o for o in overrides if not self._value_override(o))
        values = [self._parsed[o] for o in overrides if self._value_override(o)]
        cfg = copy.deepcopy(self._base(group, hydra_overrides).cfg)
        self._apply(values, cfg)
        return cfg

    def _base(self, group: tuple[str, ...], hydra_overrides: Sequence[str]) -> _Base:
        base = self._bases.get(group)
        if base is None:
            from hydra.types import RunMode

            cfg = self._compose(list(hydra_overrides) + list(group), RunMode.RUN)
            base = self._bases[group] = _Base(cfg)
        return base

    def _effect(self, base: _Base, text: str) -> tuple[tuple[str, ...], Any] | None:
        """What one value override does to a base: (key path, value), or None if not plain.

        Computed with Hydra's override logic on a copy of what lies along the key's path in
        the base: on untyped bases the outcome depends on nothing else (dicts, the leaf,
        None), so bases that agree there share one computation.
        """
        ov = self._parsed[text]
        path = tuple(ov.key_or_group.split("."))
        key = (text, plain_compose.path_signature(base.plain, path))
        if key not in self._effects:
            from omegaconf import OmegaConf

            effect = None
            if not (ov.is_delete() or ov.package or isinstance(ov.value(), (dict, list))):
                cfg = OmegaConf.create(plain_compose.along(base.plain, path))  # all it depends on
                OmegaConf.set_struct(cfg, bool(OmegaConf.is_struct(base.cfg)))
                self._apply([ov], cfg, base.cfg)
                try:
                    value = plain_compose.lookup(OmegaConf.to_container(cfg, resolve=False), path)
                except KeyError:
                    value = None
                else:
                    if not (
                        isinstance(value, (dict, list))
                        or plain_compose.is_interpolation(value)
                        or value == "???"
                    ):
                        effect = (path, value)
            self._effects[key] = effect
        return self._effects[key]

    @staticmethod
    def _apply(values: list[Any], cfg: Any, whole: Any = None) -> None:
        """Hydra's override logic on ``cfg``; ``OverrideError`` naming the override it
        refused, with the keys closest to a missing one in ``whole`` (default ``cfg``)."""
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        try:
            ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        except (HydraException, OmegaConfBaseException) as exc:
            culprit = next(
                (o for o in values if f"'{o.key_or_group}'" in str(exc)),
                None,
            )
            if culprit is None:
                raise OverrideError(
                    " ".join(o.input_line for o in values), first_line(exc)
                ) from None
            known = cfg if whole is None else whole
            hint = did_you_mean(known, culprit.key_or_group) if _missing_key(exc) else ""
            raise OverrideError(culprit.input_line, first_line(exc) + hint) from None

    def _value_override(self, text: str) -> bool:
        """Whether Hydra applies this override to values (not to the defaults list)."""
        known = self._is_value.get(text)
        if known is None:
            ov = parse_override(text, self.config_loader)
            self._parsed[text] = ov
            is_group = self.config_loader.repository.group_exists(ov.key_or_group)
            known = isinstance(ov.value(), dict) or not is_group
            self._is_value[text] = known
        return known

    def _compose(self, overrides: list[str], run_mode: Any, keep_hydra: bool = False) -> Any:
        import yaml
        from hydra.core.global_hydra import GlobalHydra
        from hydra.errors import HydraException, MissingConfigException
        from omegaconf import open_dict
        from omegaconf.errors import OmegaConfBaseException

        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        try:
            cfg = hydra.compose_config(
                config_name=self.config_name,
                overrides=overrides,
                run_mode=run_mode,
                from_shell=False,
                with_log_configuration=False,
            )
        except (HydraException, OmegaConfBaseException, yaml.YAMLError) as exc:
            msg = first_line(exc)
            cause = exc.__cause__
            if isinstance(cause, (HydraException, OmegaConfBaseException)):
                msg = first_line(f"{msg}: {first_line(cause)}")  # Hydra's says only where
            culprit = next(
                (
                    o
                    for o in overrides
                    if f"'{o.split('=')[0].lstrip('+~')}'" in msg or f"override {o}" in msg
                ),
                None,
            )
            if culprit is not None:
                if isinstance(exc, MissingConfigException):
                    hint = _option_like(culprit, exc.options)
                elif _missing_key(exc):
                    hint = self._hint(overrides, culprit, run_mode)
                else:
                    hint = ""
                raise OverrideError(culprit, (msg.rstrip(".") if hint else msg) + hint) from None
            raise ConfigError(f"config {self.config_name!r}", msg) from None
        except OSError as exc:  # Hydra looks each override's key up as a group's directory
            culprit = next(
                (
                    o
                    for o in overrides
                    if str(exc.filename).endswith("/" + o.split("=")[0].lstrip("+~"))
                ),
                None,
            )
            if culprit is not None:
                raise OverrideError(
                    culprit, f"{exc.strerror} (Hydra looks its key up as a config group)"
                ) from None
            raise
        if not keep_hydra and "hydra" in cfg:
            with open_dict(cfg):
                del cfg["hydra"]
        return cfg

    def _hint(self, overrides: list[str], culprit: str, run_mode: Any) -> str:
        """``did_you_mean`` for the key of ``culprit``, in the config the other overrides
        compose (an error's path: composed again); "" when that fails too."""
        try:
            cfg = self._compose([o for o in overrides if o != culprit], run_mode)
        except (ConfigError, OverrideError):
            return ""
        return did_you_mean(cfg, culprit.split("=")[0].lstrip("+~"))


_UNKNOWN = object()


def _missing_key(exc: BaseException) -> bool:
    """Whether Hydra or OmegaConf refused an override for a key the config lacks."""
    text = f"{exc} {exc.__cause__ or ''}"
    return any(said in text for said in ("not in struct", "Could not override", "does not exist"))


def did_you_mean(cfg: Any, key: str) -> str:
    """``"; did you mean a.b?"`` for a dotted ``key`` that ``cfg`` lacks: the keys closest to
    its first missing part, among that part's siblings, with the rest of the path (under
    ``snakesweep``, the options too: ``+snakesweep.timeout`` for one the config does not
    set); else the config's dotted keys ending in the same key, or closest to it whole
    (``lr`` → ``optimizer.lr``); "" when none is close."""
    import difflib

    from omegaconf import DictConfig

    node, done = cfg, list[str]()
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return ""
        if part not in node:
            keys = [str(k) for k in node.keys()]
            if done == [NODE]:
                if part in Options.names():
                    return ""  # an option the config does not set: Hydra's hint (+) is it
                keys += [name for name in Options.names() if name not in keys]
            close = difflib.get_close_matches(part, keys, n=3, cutoff=0.6)
            paths = [
                ("" if c in node else "+") + ".".join([*done, c, *parts[i + 1 :]]) for c in close
            ]
            if not paths and not done:
                paths = _paths_like(cfg, key)
            return f"; did you mean {' or '.join(paths)}?" if paths else ""
        node = node._get_node(part)
        done.append(part)
    return ""


def _names_there(name: str, config_dir: Path) -> str:
    """``"; did you mean config?"`` for a primary config's name that ``config_dir`` lacks,
    else the names it has (give one with -cn)."""
    import difflib

    names = sorted(p.stem for p in config_dir.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f"; did you mean -cn {' or '.join(close)}?"
    return f" (its configs: {', '.join(names)}; give one with -cn)" if names else ""


def _option_like(override: str, options: Sequence[str] | None) -> str:
    """``"; did you mean model=mlp?"`` for ``model=mpl``, a config group's option that is not
    there: the group's options closest to it; "" when none is close."""
    import difflib

    group, _, option = override.partition("=")  # group keeps its + (+db=sqlite)
    close = difflib.get_close_matches(option, list(options or ()), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(f'{group}={c}' for c in close)}?" if close else ""


def _paths_like(cfg: Any, key: str) -> list[str]:
    """Up to 3 dotted keys of ``cfg`` whose last part is (closest to) the last of ``key``
    (``lr`` → ``optimizer.lr``, ``stps`` → ``optimizer.steps``), else the closest to ``key``
    whole; the domain's keys (``snakesweep.domain``) are not the config's."""
    import difflib

    from omegaconf import DictConfig

    paths: list[str] = []
    stack: list[tuple[str, Any]] = [("", cfg)]
    while stack:
        prefix, node = stack.pop()
        for k in node.keys():
            path = f"{prefix}{k}"
            paths.append(path)
            child = node._get_node(k)
            if isinstance(child, DictConfig) and path != f"{NODE}.domain":
                stack.append((f"{path}.", child))
    paths.sort()
    leaf = key.rsplit(".", 1)[-1]
    leaves = {p.rsplit(".", 1)[-1] for p in paths}
    close = difflib.get_close_matches(leaf, leaves, n=3, cutoff=0.75)
    ending = [p for p in paths if p != key and p.rsplit(".", 1)[-1] in close]
    return (ending or difflib.get_close_matches(key, paths, n=3, cutoff=0.7))[:3]


class _Base:
    """A config composed for one combination of group choices, and its plain form."""

    def __init__(self, cfg: Any) -> None:
        from omegaconf import OmegaConf

        self.cfg = cfg
        self.plain: dict[str, Any] = OmegaConf.to_container(cfg, resolve=False)  # type: ignore[assignment]
        self.effects: dict[str, tuple[tuple[str, ...], Any] | None] = {}
        """Per value override: what it does to this base (see ``Composer._effect``)."""
        self.apart: dict[tuple[tuple[str, ...], ...], bool] = {}
        """Per combination of key paths: whether none is a prefix of another."""
        strings = list(plain_compose.walk_strings(self.plain))
        self.interpolations = [p for p, v in strings if plain_compose.is_interpolation(v)]
        self.fast = _untyped(cfg) and not any(  # plain strings in lists (a domain) are fine
            v == "???"
            or (
                plain_compose.is_interpolation(v)
                and ("[]" in p or plain_compose.segments(v) is None)
            )
            for p, v in strings
        )


def _untyped(cfg: Any) -> bool:
    """Whether a config holds no structured-config types (plain YAML dicts and values)."""
    from omegaconf import AnyNode, DictConfig, ListConfig

    stack = [cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, DictConfig):
            if node._metadata.object_type not in (None, dict):
                return False
            stack.extend(node._get_node(k) for k in node.keys())  # type: ignore[misc]
        elif isinstance(node, ListConfig):
            stack.extend(node._get_node(i) for i in range(len(node)))  # type: ignore[misc]
        elif not isinstance(node, AnyNode):
            return False
    return True


def resolve_config(cfg: Any) -> dict[str, Any]:
    """A composed config as plain data with every interpolation resolved."""
    plain = _to_plain(cfg)
    assert isinstance(plain, dict)
    return plain


def _full_key(exc: Any) -> str:
    key = getattr(exc, "full_key", None)
    return f"key {key!r}" if key else "config"
