"""``snakesweep plan`` and ``snakesweep status``: the sweep's points and what became of
their runs, read from the results without running anything."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from snakesweep import store
from snakesweep.cli.command import no_extra
from snakesweep.cli.sweep import check_options, plan_of
from snakesweep.cli.table import labels, print_table
from snakesweep.errors import first_line
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode, fingerprint_of
from snakesweep.snakemake.summary import count_statuses, describe_counts, left_out, sweep_statuses

__all__ = ["cmd_plan", "cmd_status"]

_MOST_CHANGES = 5
"""Config changes ``status`` names in its line on pending runs."""
_AGAIN = "`snakesweep run` (or `snakemake --cores N`) computes them again"


def cmd_plan(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep plan``: the points of the sweep, their run ids and statuses."""
    no_extra(extra, "plan")
    plan = plan_of(ns, check_options, reading=True)
    statuses = sweep_statuses(plan, ns.results)
    if ns.format == "json":
        print(
            json.dumps(
                [
                    {
                        "run_id": p.run_id,
                        "overrides": list(p.overrides),
                        "params": p.params,
                        "status": statuses[p.run_id],
                    }
                    for p in plan.points
                ],
                indent=1,
            )
        )
        return 0
    print(f"domain: {plan.structure()}")
    keys = plan.keys
    header = ["run_id", "status", *keys]
    rows = [[p.run_id, statuses[p.run_id], *labels(p.params, keys)] for p in plan.points]
    print_table(header, rows)
    counts = count_statuses(statuses)
    print(f"{len(plan.points)} points, {len(plan.run_ids)} runs: {describe_counts(counts)}")
    return 0


def cmd_status(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep status``: how many runs are done, pending, failed…, and which not done."""
    no_extra(extra, "status")
    status = _read_status(ns)
    if ns.format == "json":
        print(json.dumps(_status_json(status), indent=1))
        return 0
    _print_status(status)
    return 0


@dataclass(frozen=True)
class _Status:
    """What ``status`` reads of a sweep's runs."""

    plan: Plan
    results: str
    code: CurrentCode
    statuses: dict[str, store.Status]
    metas: dict[str, dict[str, Any]]
    """``meta.json`` of each run that is not pending ({} if it has none)."""
    unmerged: dict[str, str]
    unused: list[str]
    changes: list[store.ConfigChange]
    matched: int
    """Pending runs that are unused runs with the changed values."""

    def having(self, status: store.Status) -> list[str]:
        """The runs with ``status``, in the plan's order."""
        return [r for r in self.plan.run_ids if self.statuses[r] == status]

    @property
    def debug(self) -> list[str]:
        """The done (or stale) runs computed from a dirty working tree."""
        return [
            r
            for r, m in self.metas.items()
            if self.statuses[r] in ("done", "stale") and (m.get("provenance") or {}).get("debug")
        ]

    def error(self, run_id: str) -> dict[str, Any]:
        """The error a failed run's ``meta.json`` records ({} if none)."""
        return self.metas[run_id].get("error", {})  # type: ignore[no-any-return]

    def params(self, run_id: str) -> dict[str, Any]:
        """The swept values of a run's point."""
        return self.plan.point_of(run_id).params

    def labels(self, run_id: str) -> list[str]:
        """A run's point's label under each key of the plan."""
        return labels(self.params(run_id), self.plan.keys)


def _read_status(ns: argparse.Namespace) -> _Status:
    """Read the plan and the runs' statuses, records and config changes from the results."""
    plan = plan_of(ns, check_options, reading=True)
    code = CurrentCode(plan.options)
    statuses = store.run_statuses(ns.results, plan.run_ids, code)
    metas = {
        r: store.read_meta(ns.results, r) or {} for r in plan.run_ids if statuses[r] != "pending"
    }
    unmerged = left_out(plan, ns.results, statuses)
    unused = store.unused_runs(ns.results, plan.run_ids)
    pending = [r for r in plan.run_ids if statuses[r] == "pending"]
    changes, matched = (
        store.config_changes(
            ns.results,
            {r: plan.configs[r] for r in pending},
            {r: plan.point_of(r).params for r in pending},
            unused,
        )
        if pending and unused
        else ([], 0)
    )
    return _Status(
        plan=plan,
        results=ns.results,
        code=code,
        statuses=statuses,
        metas=metas,
        unmerged=unmerged,
        unused=unused,
        changes=changes,
        matched=matched,
    )


def _status_json(s: _Status) -> dict[str, Any]:
    """``status --format json``."""
    return {
        "counts": count_statuses(s.statuses),
        "unused": len(s.unused),
        "changed": [
            {
                "key": c.key,
                "before": store.shown_value(c.before),
                "now": store.shown_value(c.now),
                "runs": c.runs,
            }
            for c in s.changes
        ],
        "failed": [
            {
                "run_id": r,
                "params": s.params(r),
                "error": {k: s.error(r).get(k) for k in ("type", "message")},
            }
            for r in s.having("failed")
        ],
        "stale": [
            {
                "run_id": r,
                "params": s.params(r),
                "computed_with": fingerprint_of(s.metas[r]),
                "current": s.code.of(r, s.metas[r]),
            }
            for r in s.having("stale")
        ],
        "corrupt": [
            {"run_id": r, "params": s.params(r), "why": store.why_corrupt(s.results, r)}
            for r in s.having("corrupt")
        ],
        "unmerged": [
            {"run_id": r, "params": s.params(r), "why": why} for r, why in s.unmerged.items()
        ],
        "debug": s.debug,
    }


def _print_status(s: _Status) -> None:
    """``status`` as text: the counts, then each kind of run that is not done as it should."""
    debug = s.debug
    if debug:
        print(
            f"DEBUG SWEEP: {len(debug)} of {len(s.plan.run_ids)} runs were computed from a "
            "working tree with uncommitted changes (snakesweep.debug, "
            "snakesweep.git_dirty_ignore)"
        )
    print(
        f"{len(s.plan.run_ids)} runs: {describe_counts(count_statuses(s.statuses))}"
        + (f" ({len(s.unmerged)} done but not in {s.results}/sweep.nc)" if s.unmerged else "")
    )
    _say_changes(s)
    if s.unused:
        print(
            f"unused: {len(s.unused)} run(s) in {s.results}/runs are no run of this sweep "
            "(other configs); they are kept"
        )
    _say_unmerged(s)
    _say_stale(s)
    _say_corrupt(s)
    if debug:
        print(
            f"debug runs' diffs: {s.results}/runs/<run_id>/git.diff; to make them final "
            "runs, commit, then `snakesweep run -- --forcerun run_experiment`"
        )
    _say_failed(s)


def _say_changes(s: _Status) -> None:
    """Why runs are pending that look like runs in the results: the config changed."""
    if not s.changes:
        return
    shown = ", ".join(
        f"{c.key}: {store.shown_value(c.before)} → {store.shown_value(c.now)}"
        for c in s.changes[:_MOST_CHANGES]
    )
    print(
        f"pending: the config changed since the runs in {s.results}/runs were "
        f"computed ({shown}{', …' if len(s.changes) > _MOST_CHANGES else ''}): "
        f"{s.matched} pending run(s) are runs there with these values, under new run ids"
    )


def _say_unmerged(s: _Status) -> None:
    """The done runs the merge left out of ``sweep.nc``, why, and what to do."""
    if not s.unmerged:
        return
    print(
        f"not in {s.results}/sweep.nc (done, but their results do not fit with the "
        "other runs'; their status there is unmerged):"
    )
    print_table(
        ["run_id", "why", *s.plan.keys], [[r, why, *s.labels(r)] for r, why in s.unmerged.items()]
    )
    print(
        "change what the experiment returns for them (then `snakesweep run -- "
        "--forcerun run_experiment`), or read their results from "
        f"{s.results}/runs/<run_id>/result.nc"
    )


def _say_stale(s: _Status) -> None:
    """The runs computed with other code than the current: both fingerprints."""
    stale = s.having("stale")
    if not stale:
        return
    print("stale (computed with other code than the current):")
    print_table(
        ["run_id", "code then", "code now", *s.plan.keys],
        [
            [
                r,
                str(fingerprint_of(s.metas[r]) or "unrecorded"),
                s.code.of(r, s.metas[r]) or "-",
                *s.labels(r),
            ]
            for r in stale
        ],
    )
    print(_AGAIN)


def _say_corrupt(s: _Status) -> None:
    """The runs whose result is not the file recorded at their end, and why."""
    corrupt = s.having("corrupt")
    if not corrupt:
        return
    print(
        "corrupt (the result is not the file recorded when the run finished; it is never merged):"
    )
    print_table(
        ["run_id", "why", *s.plan.keys],
        [[r, store.why_corrupt(s.results, r), *s.labels(r)] for r in corrupt],
    )
    print(_AGAIN)


def _say_failed(s: _Status) -> None:
    """The failed runs and the first line of their error."""
    failed = s.having("failed")
    if not failed:
        return
    print("failed:")
    print_table(
        ["run_id", "error", *s.plan.keys],
        [
            [
                r,
                f"{s.error(r).get('type', '?')}: {first_line(s.error(r).get('message', ''))}",
                *s.labels(r),
            ]
            for r in failed
        ],
    )
    print(f"details: {s.results}/runs/<run_id>/meta.json and stderr.log")
