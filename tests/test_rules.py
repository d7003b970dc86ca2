"""The packaged rules without running a sweep: the schema of Snakemake's config, the rerun
triggers every profile gives Snakemake, and what a Snakemake invocation's arguments say."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from snakesweep.cli.init import scaffold
from snakesweep.snakemake import arguments
from snakesweep.snakemake.workflow import CONFIG_SCHEMA, RULES

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {
    "config_dir": "conf",
    "config_name": "config",
    "overrides": [],
    "results": "results",
    "plan": None,
    "from_run": None,
    "batch": None,
    "pooled": False,
}


def validated(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as ``sweep.smk`` leaves it: validated, its defaults filled in."""
    config = copy.deepcopy(config)
    validate(config, CONFIG_SCHEMA)
    return config


def test_the_rules_validate_the_config_against_the_packaged_schema() -> None:
    text = Path(RULES).read_text()
    assert 'validate(config, "schemas/config.schema.yaml")' in text
    assert text.index("validate(config") < text.index("SweepWorkflow.from_config(config")
    assert Path(RULES).parent / "schemas" / "config.schema.yaml" == Path(CONFIG_SCHEMA)
    for stage in ("run", "merge", "report"):
        assert f'include: "rules/{stage}.smk"' in text


def test_the_schema_fills_in_every_default_and_keeps_the_snakefile_s_own_keys() -> None:
    assert validated({}) == {"snakesweep": DEFAULTS}
    given = {"snakesweep": {"overrides": ["x=1,2"], "batch": "auto"}, "mine": 3}
    assert validated(given) == {
        "snakesweep": {**DEFAULTS, "overrides": ["x=1,2"], "batch": "auto"},
        "mine": 3,
    }
    for batch in (1, 50, "7", None):
        assert validated({"snakesweep": {"batch": batch}})["snakesweep"]["batch"] == batch


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"resluts": "out"}, "Additional properties are not allowed ('resluts' was unexpected)"),
        ({"overrides": "x=1"}, "'x=1' is not of type 'array'"),
        ({"results": 3}, "3 is not of type 'string'"),
        ({"batch": 0}, "0 is not valid under any of the given schemas"),
        ({"batch": "many"}, "'many' is not valid under any of the given schemas"),
    ],
)
def test_a_misspelt_key_or_a_wrong_type_is_refused(options: dict[str, Any], said: str) -> None:
    with pytest.raises(WorkflowError, match="Error validating config file") as refused:
        validated({"snakesweep": options})
    assert said in str(refused.value)


def test_every_profile_gives_snakemake_the_rerun_triggers_and_scheduler_snakesweep_run_gives(
    tmp_path: Path,
) -> None:
    """One list (``arguments.RERUN_TRIGGERS``): the profile ``snakesweep init`` writes is made
    from it, and is the repository's own; the SLURM profile has the same triggers."""
    written = scaffold(tmp_path).files
    profile = written["workflow/profiles/default/config.yaml"]
    assert profile == (REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text()
    for text in (profile, (REPO / "profiles" / "slurm" / "config.yaml").read_text()):
        assert yaml.safe_load(text)["rerun-triggers"] == list(arguments.RERUN_TRIGGERS)
        assert yaml.safe_load(text)["scheduler"] == arguments.SCHEDULER == "greedy"
    assert "input" not in arguments.RERUN_TRIGGERS


def test_the_greedy_scheduler_unless_the_user_chose_one() -> None:
    assert arguments.scheduling(["--jobs", "4"]) == ["--scheduler", "greedy"]
    assert arguments.scheduling(["--scheduler", "ilp"]) == []
    assert arguments.scheduling(["--scheduler=ilp"]) == []


def test_cores_are_all_or_a_positive_number() -> None:
    assert arguments.cores("all") == len(os.sched_getaffinity(0))
    assert arguments.cores("3") == arguments.cores(3) == 3
    assert arguments.cores(SimpleNamespace(value=2)) == 2  # Snakemake 9.16 on: a Resource
    for bad in ("0", "-1", "two", "", 0, True, None, 2.5):
        with pytest.raises(ValueError, match="expected a positive number of cores or 'all'"):
            arguments.cores(bad)


def test_the_rules_read_snakemake_s_cores_and_jobs_one_when_unknown() -> None:
    def workflow(cores: Any, nodes: int | None = None) -> Any:
        return SimpleNamespace(global_resources={"_cores": cores}, nodes=nodes)

    assert arguments.workflow_cores(workflow(4)) == 4
    assert arguments.workflow_cores(workflow(SimpleNamespace(value=3))) == 3
    assert arguments.workflow_cores(workflow(None)) == 1
    assert arguments.workflow_cores(None) == 1
    assert arguments.parallel_jobs(workflow(4)) == 4
    assert arguments.parallel_jobs(workflow(4, nodes=50)) == 50
    assert arguments.parallel_jobs(None) == 1


def test_what_snakemake_s_arguments_say_of_its_runs() -> None:
    assert arguments.computes([]) and arguments.computes(["--cores", "2"])
    assert not arguments.computes(["-n"]) and not arguments.computes(["-np"])
    assert not arguments.computes(["--report", "report.html"])
    assert arguments.computes(["--report", "r.html", "--report-after-run"])
    assert arguments.runs_here(["--cores", "2"])
    assert not arguments.runs_here(["--executor", "slurm"])
    assert not arguments.runs_here(["-eslurm"])
    assert not arguments.runs_here(["--profile=profiles/slurm"])
