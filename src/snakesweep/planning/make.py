"""Making a plan: the domain expanded, every point composed, cached under the results.

``make_plan`` takes the cached plan when nothing it depends on changed (``cache``), or
composes it again (``compose_plan``): the domain is ``snakesweep.domain`` times the
command line's swept keys, or Hydra's grid; an adaptive sweep's rounds follow (``rounds``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from snakesweep import store
from snakesweep.core import plain_compose
from snakesweep.core.configs import Composer
from snakesweep.core.domain import Domain, load_domain, with_grid
from snakesweep.core.domain_expansion import SETTINGS
from snakesweep.core.domain_tree import DomainError
from snakesweep.core.grid import (
    dimension_name,
    expand_domain,
    parse_override,
    sweeper_params_overrides,
)
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError, OverrideError
from snakesweep.planning.cache import plan_path, usable_cache
from snakesweep.planning.composition import Composition
from snakesweep.planning.from_run import Loaded, load_run, loaded_overrides
from snakesweep.planning.plan import Plan, check_coordinates, write_plan
from snakesweep.planning.rounds import MergedResults, next_rounds
from snakesweep.planning.sources import import_source

__all__ = ["compose_plan", "make_plan"]


def make_plan(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str] = (),
    results: str | os.PathLike[str] = "results",
    *,
    use_cache: bool = True,
    from_run: str | None = None,
    check: Callable[[Plan], object] | None = None,
    cache_optional: bool = False,
    merged: MergedResults | None = None,
    domain_options: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan for a sweep, from the cache under ``results`` when nothing it depends on changed.

    ``from_run``: a run id (or a unique prefix) of ``results`` whose resolved config the
    points start from (``--from``; see ``planning.from_run``). ``check`` is called with the
    plan, a new one before it is cached: what it raises leaves ``results`` as it was (bad
    input writes nothing). ``cache_optional``: a plan that cannot be cached (a read-only or
    full disk) is used as it is, for commands that only read ``results``. ``merged``: the
    Results of a plan's runs (``snakesweep.api.plans`` gives it), from which an adaptive
    sweep's next round is decided once its runs are done; without it, none is.
    ``domain_options``: the ``snakesweep`` domain options given in Python
    (``Domain.to_dict()``), which replace the config's domain and its settings.
    """
    config_dir, results = store.local_path(config_dir), store.local_path(results)
    loaded = None
    key_overrides = list(overrides)
    if domain_options is not None:
        key_overrides.append(f"--domain={json.dumps(domain_options, sort_keys=True, default=repr)}")
    if from_run is not None:  # `--from ''` is a bad id, not no --from
        loaded = load_run(results, from_run)
        key_overrides = [f"--from={loaded.run_id}:{loaded.digest}", *overrides]
    path = plan_path(config_dir, config_name, key_overrides, results)
    cached, current = (
        usable_cache(path, results, grows=merged is not None) if use_cache else (None, False)
    )
    plan = (
        cached
        if cached is not None and current
        else dataclasses.replace(
            compose_plan(
                config_dir,
                config_name,
                overrides,
                loaded=loaded,
                results=results,
                previous=cached,
                merged=merged,
                domain_options=domain_options,
            ),
            path=path,
        )
    )
    if plan is not cached:
        check_coordinates(plan)
    plan.options.check()  # each run's options, and those the runs must share
    if check is not None:
        check(plan)
    if use_cache and plan is not cached:
        try:
            write_plan(plan, path)
        except OSError:
            if not cache_optional:
                raise
    return plan


def compose_plan(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str] = (),
    *,
    loaded: Loaded | None = None,
    results: str | os.PathLike[str] | None = None,
    previous: Plan | None = None,
    merged: MergedResults | None = None,
    domain_options: Mapping[str, Any] | None = None,
) -> Plan:
    """Expand the domain and compose every point (no cache), from a ``loaded`` run's config
    when given; ``domain_options`` (``domain`` and its settings) replace the config's.

    The domain is ``snakesweep.domain`` (see ``snakesweep.core.domain``) times the command line's
    swept keys, or, without one, the grid of ``hydra.sweeper.params`` and the command line
    exactly as Hydra's BasicSweeper makes it. With ``snakesweep.update``, the rounds whose
    predecessors' runs are done in ``results`` follow (see ``snakesweep.planning.rounds``; each
    decided from their Results, which ``merged`` gives), after those of ``previous`` (a
    cached plan of the same sweep) as they were decided.
    """
    from omegaconf import OmegaConf  # deferred: a cached plan is used without OmegaConf

    with Composer(config_dir, config_name) as composer:
        master = composer.compose_master(overrides)
        params = OmegaConf.select(master, "hydra.sweeper.params", default=None)
        params = OmegaConf.to_container(params) if params is not None else None
        node = OmegaConf.select(master, "snakesweep", default=None)
        if node is not None and not isinstance(node, type(master)):
            _not_options(node, overrides)
        given: Any = (
            OmegaConf.to_container(node, resolve=True) if isinstance(node, type(master)) else None
        )
        if domain_options is not None:  # given in Python: the config's domain gives way
            kept = {k: v for k, v in (given or {}).items() if k != "domain" and k not in SETTINGS}
            given = {**kept, **domain_options}
        options = Options.parse(given)
        sources: dict[str, str] = {}
        loader = composer.config_loader
        domain = _configured_domain(options, sources, loader)
        if domain is None:
            base = _loaded_base(loaded, params, overrides, loader, master)
            grid = expand_domain(overrides, params, loader, base=base)  # type: ignore[arg-type]
            compose = Composition(composer, grid.hydra_overrides, len(grid))
            for point in grid.points():
                compose.add(point.overrides, point.index, point.params)
            compose.progress.done()
            return Plan(
                config_dir=str(config_dir),
                config_name=config_name,
                overrides=tuple(overrides),
                dims=grid.dims,
                points=tuple(compose.points),
                configs=compose.configs,
            )
        grid = expand_domain(overrides, params, loader)  # type: ignore[arg-type]

        def prefix_of(d: Domain) -> list[str]:
            """What every point of ``d`` starts with: the loaded run's config but the keys
            ``d`` sets, and the command line's fixed values."""
            keys = [k for k, _ in d.key_specs()]
            return [
                *_loaded_base(loaded, params, overrides, loader, master, keys),
                *_check_grid(d, grid, loader, overrides),
            ]

        prefix = prefix_of(domain)  # first: a key in both places is named as the override
        expansion = with_grid(domain, grid.dims).expand(prefix=prefix)
        adaptive = options.update is not None
        resume = adaptive and previous is not None and bool(previous.rounds)
        compose = Composition(composer, grid.hydra_overrides, 0 if resume else len(expansion))
        compose.add_all([] if resume else expansion.points)
        plan = Plan(
            config_dir=str(config_dir),
            config_name=config_name,
            overrides=tuple(overrides),
            dims=expansion.dims,
            points=tuple(compose.points),
            configs=dict(compose.configs),
            coords=expansion.coords,
            sources=sources,
        )
        if adaptive:
            plan = next_rounds(
                plan,
                expansion,
                options,
                compose,
                results,
                sources,
                prefix_of=prefix_of,
                grid_dims=grid.dims,
                merged=merged,
                previous=previous if resume else None,
            )
        compose.progress.done()
        return plan


def _not_options(node: Any, overrides: Sequence[str]) -> None:
    """Refuse a ``snakesweep`` node that is not a mapping of options, naming what set it."""
    from omegaconf import OmegaConf  # deferred: a cached plan is used without OmegaConf

    value = OmegaConf.to_container(node) if OmegaConf.is_config(node) else node
    reason = (
        f"snakesweep's options are a mapping (experiment: 'package.module:function', "
        f"domain, ...), not {value!r}"
    )
    setter = next(
        (
            o
            for o in reversed(overrides)
            if o.lstrip("+~").partition("=")[0].partition("@")[0] == "snakesweep"
        ),
        None,
    )
    if setter is not None:
        raise OverrideError(setter, reason)
    raise ConfigError("snakesweep", reason)


def _configured_domain(
    options: Options, sources: dict[str, str], loader: Any = None
) -> Domain | None:
    """``snakesweep.domain`` as a Domain, or None when the config has none."""
    if options.domain is None:
        for name in ("samples", "repeats", "update"):
            if getattr(options, name) is not None:
                raise DomainError(
                    f"snakesweep.{name}",
                    "needs snakesweep.domain (the "
                    "command line's and hydra.sweeper.params' grid takes none)",
                )
        return None
    return load_domain(options.domain, options, lambda s, k: import_source(s, k, sources), loader)


def _check_grid(
    domain: Domain, grid: Any, config_loader: Any, overrides: Sequence[str] = ()
) -> list[str]:
    """The command line's fixed values, once checked against the configured domain (a key
    in both is named by the command line's override, ``overrides``, when it is one)."""
    names = {dimension_name(k) for k, _ in domain.key_specs()}
    names.update(domain.keys())
    for key, random in domain.key_specs():
        if random and config_loader.repository.group_exists(dimension_name(key)):
            raise DomainError(
                f"key {key!r}",
                "is a config group: a group's options are "
                "listed (or given as Hydra's glob()), never drawn at random",
            )
    fixed = []
    for choice, swept in zip(grid.choices, grid.swept, strict=True):
        text = choice[0]
        key = dimension_name(text.partition("=")[0])
        if key in names:
            text = next(
                (o for o in overrides if dimension_name(o.partition("=")[0].lstrip("+~")) == key),
                text,
            )
            raise OverrideError(
                text, f"key {key!r} is also in snakesweep.domain; set it in one place"
            )
        if not swept:
            fixed.append(text)
    return fixed


def _loaded_base(
    loaded: Loaded | None,
    params: Any,
    overrides: Sequence[str],
    config_loader: Any,
    master: Any,
    domain_keys: Sequence[str] = (),
) -> list[str]:
    """A loaded run's group choices and config as overrides (``planning.from_run``)."""
    if loaded is None:
        return []
    from omegaconf import OmegaConf  # deferred: a cached plan is used without OmegaConf

    def is_group(ov: Any) -> bool:
        return bool(config_loader.repository.group_exists(ov.key_or_group))

    set_keys: list[str] = []
    set_groups: set[str] = set()
    for key in domain_keys:
        set_keys.append(key.lstrip("+~"))
        if config_loader.repository.group_exists(key.lstrip("+~")):
            set_groups.add(key.lstrip("+~"))
    for text in [*sweeper_params_overrides(params), *overrides]:
        ov = parse_override(text, config_loader)
        if not ov.is_hydra_override():
            set_keys.append(ov.key_or_group.lstrip("+~"))
            if is_group(ov):
                set_groups.add(ov.key_or_group)
    choices = []
    for text in loaded.overrides:
        ov = parse_override(text, config_loader)
        if not ov.is_hydra_override() and is_group(ov) and ov.key_or_group not in set_groups:
            choices.append(text)
    tree = OmegaConf.to_container(master, resolve=False)
    interpolated = [
        ".".join(p)
        for p, v in plain_compose.walk_strings(tree)
        if plain_compose.is_interpolation(v) and p[:1] != ("hydra",)
    ]
    return choices + loaded_overrides(loaded.config, [*set_keys, *interpolated])
