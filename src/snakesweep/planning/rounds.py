"""Adaptive rounds (batchflow's ``update_domain``): each round's domain from the last results.

``snakesweep.update: "mypkg.search:refine"`` names ``refine(results, round) -> Domain |
None``. Round 0 is ``snakesweep.domain``. Once every run of the rounds so far is done, the
function gets their ``Results`` (``snakesweep.load``, merged for exactly those runs) and
``round``, the number of the round it makes (1 for the second), and returns that round's
domain, or None to stop; ``snakesweep.max_rounds`` (default 10) bounds the count, round 0
included. A round's domain takes the config's ``seed``, ``repeats`` and ``seed_key``
where it leaves them at their defaults, and ``samples`` when it draws; its draws differ from
every other round's.

The plan holds the rounds decided so far. The points of every round stack along one
``point`` dimension, each key a coordinate along it, with a ``round`` coordinate. A plan
that may grow is made again when its last round's runs are done (``snakesweep run`` loops
until the function says stop; plain ``snakemake`` runs one round per invocation). The
update function must be deterministic in its inputs: a sweep planned again from nothing
reaches the same rounds, so nothing is computed twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from snakesweep import store
from snakesweep.core.domain import Domain, call_entry, with_grid
from snakesweep.core.domain_expansion import POINT, REPEAT, ROUND, Expansion, Settings, settings_of
from snakesweep.core.domain_tree import DomainError
from snakesweep.core.grid import Dimension
from snakesweep.core.options import Options
from snakesweep.planning.composition import Composition
from snakesweep.planning.plan import Plan, PlannedPoint
from snakesweep.planning.sources import import_source

__all__ = ["MergedResults", "next_rounds", "round_due"]

MergedResults = Callable[[Plan, str | os.PathLike[str]], Any]
"""What gives the update function its ``results``: the Results (``snakesweep.load``) of
exactly a plan's runs in a results directory. The planning layer merges nothing itself:
``snakesweep.api.plans.merged_results`` (above the merge) merges them, then loads them."""


def round_due(plan: Plan, results: str | os.PathLike[str]) -> bool:
    """Whether every run of a plan that may grow is done (its next round can be made)."""
    statuses = store.run_statuses(results, plan.run_ids)
    return all(s == "done" for s in statuses.values())


def next_rounds(
    first: Plan,
    expansion: Expansion,
    options: Options,
    compose: Composition,
    results: str | os.PathLike[str] | None,
    sources: dict[str, str],
    *,
    prefix_of: Callable[[Domain], Sequence[str]],
    grid_dims: Sequence[Dimension],
    merged: MergedResults | None = None,
    previous: Plan | None = None,
) -> Plan:
    """The plan of round 0 (``first``) and of every round that can be decided now.

    ``prefix_of``: the overrides every point of a round's domain starts with (checked
    against the command line). ``merged``: the Results of a plan's runs in ``results``,
    which the update function decides the next round from; without it (or without
    ``results``) no further round is decided. ``previous``: a cached plan of the same
    sweep, whose rounds are taken as they are.
    """
    if ROUND in (*(d.name for d in expansion.dims), *expansion.coords):
        raise DomainError(
            f"key {ROUND!r}", "is also the coordinate of adaptive rounds: rename the key"
        )
    update = import_source(str(options.update), "snakesweep.update", sources)
    limit = options.max_rounds
    config_settings = settings_of(options)
    rounds: list[list[tuple[PlannedPoint, dict[str, Any]]]]
    if previous is not None and previous.rounds:
        rounds = _rounds_of(previous)
        compose.configs.update(previous.configs)
    else:
        rounds = [[(p, _labels(p.params, expansion)) for p in first.points]]
    complete = False
    while True:
        plan = _stacked(first, rounds, compose.configs, sources, complete=False)
        if len(rounds) >= limit:
            complete = True
            break
        if results is None or merged is None or not round_due(plan, results):
            break
        made = call_entry(
            update, str(options.update), "snakesweep.update", merged(plan, results), len(rounds)
        )
        if made is None:
            complete = True
            break
        if not isinstance(made, Domain):
            raise DomainError(
                "snakesweep.update",
                f"{options.update!r} returned a "
                f"{type(made).__name__}, not a snakesweep.Domain or None",
            )
        grown = with_grid(
            Domain._of(made._node, _settings_of_round(made, config_settings)), grid_dims
        )
        if ROUND in grown.keys():
            raise DomainError(
                f"key {ROUND!r}", "is also the coordinate of adaptive rounds: rename the key"
            )
        ex = grown.expand(prefix=prefix_of(made), round_=len(rounds))
        compose.progress.total += len(ex)
        rounds.append(
            [
                (compose.add(p.overrides, p.index, p.params), _labels(p.params, ex))
                for p in ex.points
            ]
        )
    return _stacked(first, rounds, compose.configs, sources, complete=complete)


def _settings_of_round(made: Domain, config: Settings) -> Settings:
    """A round's settings: its domain's own, and the config's where it leaves them at their
    defaults (``samples`` only for a domain that draws)."""
    own, default = made.settings, Settings()
    return Settings(
        samples=own.samples
        if own.samples is not None
        else (config.samples if made.is_random else None),
        seed=own.seed if own.seed != default.seed else config.seed,
        repeats=own.repeats if own.repeats is not None else config.repeats,
        seed_key=own.seed_key if own.seed_key != default.seed_key else config.seed_key,
    )


def _labels(params: Mapping[str, Any], expansion: Expansion) -> dict[str, Any]:
    """A point's labels without the positions along its round's own dimensions."""
    return {k: v for k, v in params.items() if k not in expansion.synthetic}


def _rounds_of(plan: Plan) -> list[list[tuple[PlannedPoint, dict[str, Any]]]]:
    """A plan's points, each with its labels, grouped by their round."""
    rounds: list[list[tuple[PlannedPoint, dict[str, Any]]]] = []
    for p in plan.points:
        k = int(p.params[ROUND])
        while len(rounds) <= k:
            rounds.append([])
        rounds[k].append((p, {n: v for n, v in p.params.items() if n not in (POINT, ROUND)}))
    return rounds


def _stacked(
    first: Plan,
    rounds: Sequence[Sequence[tuple[PlannedPoint, dict[str, Any]]]],
    configs: Mapping[str, dict[str, Any]],
    sources: dict[str, str],
    *,
    complete: bool,
) -> Plan:
    """One plan of every round's points along ``point``, with ``round`` among its labels."""
    points: list[PlannedPoint] = []
    keys: dict[str, None] = {}
    for k, round_points in enumerate(rounds):
        for p, labels in round_points:
            keys.update(dict.fromkeys(labels))
            params = {POINT: len(points), ROUND: k, **labels}
            points.append(PlannedPoint(p.run_id, (len(points),), p.overrides, params))
    order = [k for k in keys if k != REPEAT] + ([REPEAT] if REPEAT in keys else [])
    used = {p.run_id for p in points}
    return Plan(
        config_dir=first.config_dir,
        config_name=first.config_name,
        overrides=first.overrides,
        dims=(Dimension(POINT, tuple(range(len(points))), ()),),
        points=tuple(points),
        configs={r: c for r, c in configs.items() if r in used},
        coords={ROUND: (POINT,), **{k: (POINT,) for k in order}},
        rounds={"count": len(rounds), "complete": complete},
        sources=dict(sources),
    )
