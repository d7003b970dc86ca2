"""The ``snakesweep:`` options: one schema (``snakesweep.core.options``), read once per plan.

Each option's default, type and range; an unknown key refused with a suggestion, by the
real ``snakesweep`` commands and a plain ``snakemake`` (exit status 2 and one line: a
misspelt option was once accepted silently); what a sweep's runs must share; and the
options reference page's table (docs/reference/options.md), which is the one the schema
prints.
"""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import REPO, snakesweep, tool
from snakesweep.api.plans import make_plan
from snakesweep.core.options import Options, SweepOptions, UnknownOption
from snakesweep.errors import ConfigError
from snakesweep.snakemake.workflow import SNAKEFILE


def test_an_empty_node_is_every_default() -> None:
    assert Options.parse(None) == Options.parse({}) == Options()
    defaults = Options()
    assert (defaults.max_rounds, defaults.debounce, defaults.runs_per_device) == (10, 1.0, 1)
    assert (defaults.pictures, defaults.timeout, defaults.batch, defaults.devices) == (
        "matplotlib",
        None,
        None,
        None,
    )
    assert defaults.git_dirty_ignore == () and defaults.resources == {}


def test_values_are_read_as_their_options_take_them() -> None:
    parsed = Options.parse(
        {
            "experiment": "mypkg.train:main",
            "timeout": 5,
            "debounce": 0,
            "batch": "3",
            "devices": [0, "1, 2"],
            "code": "data/*.csv",
            "git_dirty_ignore": "docs",
            "pictures": False,
            "max_rounds": None,
            "resources": {"mem_mb": 4000, "runtime": 0.5},
            "repeats": 3,
            "seed": 0,
            "seed_key": "+init.seed",
        }
    )
    assert parsed.experiment == "mypkg.train:main"
    assert (parsed.timeout, parsed.debounce, parsed.batch) == (5.0, 0.0, 3)
    assert parsed.devices == ("0", "1,2") and parsed.code == ("data/*.csv",)
    assert parsed.git_dirty_ignore == ("docs",) and parsed.pictures == "off"
    assert parsed.max_rounds == 10 and parsed.resources == {"mem_mb": 4000, "runtime": 0.5}
    assert (parsed.repeats, parsed.seed, parsed.seed_key) == (3, 0, "+init.seed")
    assert Options.parse({"devices": "auto", "batch": "auto"}).devices == "auto"
    assert Options.parse({"pictures": "rerun"}).pictures == "rerun"


@pytest.mark.parametrize(
    "node, message",
    [
        ({"timeout": 0}, "snakesweep.timeout: expected seconds (a number > 0) or null, got 0"),
        (
            {"timeout": True},
            "snakesweep.timeout: expected seconds (a number > 0) or null, got True",
        ),
        ({"debounce": -1}, "snakesweep.debounce: expected seconds (a number >= 0), got -1"),
        ({"debounce": None}, "snakesweep.debounce: expected seconds (a number >= 0), got None"),
        ({"debug": "yes"}, "snakesweep.debug: expected true, false or null, got 'yes'"),
        (
            {"pictures": "matplotlib"},
            "snakesweep.pictures: expected true, false or rerun, got 'matplotlib'",
        ),
        ({"git_dirty_ignore": 3}, "snakesweep.git_dirty_ignore: expected a list of globs, got 3"),
        ({"code": []}, "snakesweep.code: expected a list of file globs, got []"),
        (
            {"batch": 0},
            "snakesweep.batch: expected a number of runs per job (>= 1), auto or null, got 0",
        ),
        ({"resources": [1]}, "snakesweep.resources: expected a mapping of Snakemake resources"),
        ({"resources": {"a b": 1}}, "snakesweep.resources.a b: not a Snakemake resource name"),
        (
            {"resources": {"runtime": "1h"}},
            "snakesweep.resources.runtime: expected a number (minutes), got '1h'",
        ),
        ({"resources": {"slurm_extra": "--x $(id)"}}, "holds characters a resource may not"),
        ({"devices": [True]}, "snakesweep.devices: expected a list of device ids"),
        ({"devices": []}, "snakesweep.devices: expected a list of device ids"),
        ({"runs_per_device": 0}, "snakesweep.runs_per_device: expected a whole number >= 1, got 0"),
        ({"repeats": 0}, "snakesweep.repeats: expected an integer >= 1, got 0"),
        ({"samples": 1.5}, "snakesweep.samples: expected an integer >= 1, got 1.5"),
        ({"seed": -1}, "snakesweep.seed: expected an integer >= 0, got -1"),
        ({"seed_key": "+"}, "snakesweep.seed_key: expected a config key, got '+'"),
        ({"max_rounds": 0}, "snakesweep.max_rounds: expected an integer >= 1, got 0"),
        ({"experiment": 3}, "snakesweep.experiment: expected 'package.module:function', got 3"),
        ({"update": ["a:b"]}, "snakesweep.update: expected 'package.module:function' or null"),
    ],
)
def test_an_unusable_value_is_one_config_error_naming_its_key(
    node: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Options.parse(node)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_option_is_refused_with_the_closest_name() -> None:
    with pytest.raises(UnknownOption) as caught:
        Options.parse({"experiment": "m:f", "timeuot": 5})
    assert str(caught.value) == "unknown option snakesweep.timeuot; did you mean timeout?"
    assert isinstance(caught.value, ConfigError) and caught.value.culprit == "snakesweep.timeuot"
    with pytest.raises(
        UnknownOption,
        match=r"^unknown option snakesweep\.zzz; the options are "
        r"experiment, domain, ",
    ):
        Options.parse({"zzz": 1})
    with pytest.raises(UnknownOption, match="did you mean runs_per_device"):
        Options.parse({"run_per_device": 2})


def test_every_option_is_documented_in_its_schema() -> None:
    for f in fields(Options):
        assert set(f.metadata) == {"parse", "values", "doc", "default"}, f.name
        assert f.metadata["doc"].endswith(".") and f.metadata["values"], f.name
        assert "|" not in f.metadata["doc"] + f.metadata["values"], f.name
    assert Options.names()[:2] == ("experiment", "domain")


def test_runs_of_one_node_share_one_parse_and_a_sweep_shares_what_it_must() -> None:
    node, other = {"timeout": 5}, {"timeout": 9}
    sweep = SweepOptions.parse({"a": node, "b": node, "c": other})
    assert sweep["a"] is sweep["b"] and sweep["c"].timeout == 9.0
    assert list(sweep) == ["a", "b", "c"] and len(sweep.distinct()) == 2
    assert sweep.batch is None and sweep.resource_names == ()
    sweep.check()
    with pytest.raises(
        ConfigError,
        match=r"^snakesweep\.batch: runs of one sweep set different "
        r"values \(3, null\)",
    ):
        SweepOptions.parse({"a": {"batch": 3}, "b": {}}).check()
    with pytest.raises(
        ConfigError,
        match=r"snakesweep\.resources\.gpus: set for some runs but "
        r"not for run b",
    ):
        SweepOptions.parse({"a": {"resources": {"gpus": 1}}, "b": {}}).check()
    both = SweepOptions.from_configs(
        {
            "a": {"snakesweep": {"resources": {"gpus": 1}}},
            "b": {"snakesweep": {"resources": {"gpus": 2}}},
        }
    )
    assert both.resource_names == ("gpus",) and SweepOptions.parse({}).first() == Options()


def test_a_plan_reads_each_runs_options_once_also_from_its_file(project: Path) -> None:
    """Runs of one node share one parse; a run's own value (here through an interpolation)
    is its own; a cached plan reads the nodes its file stores, not the configs."""
    conf = project / "conf" / "config.yaml"
    conf.write_text(
        conf.read_text().replace(
            "snakesweep:\n", "snakesweep:\n  timeout: ${x}\n  batch: 2\n  debounce: 0\n"
        )
    )
    made = make_plan(project / "conf", "config", [], project / "results")
    assert len(made.options) == 3 and made.options.batch == 2
    assert [made.options[r].timeout for r in made.run_ids] == [1.0, 2.0, 3.0]
    assert {o.debounce for o in made.options.values()} == {0.0}
    cached = make_plan(project / "conf", "config", [], project / "results")
    assert cached.stored is not None and dict(cached.options) == dict(made.options)
    assert cached.configs._configs is None  # its configs file was never read


# -- the commands ------------------------------------------------------------------------------


def _misspelt(project: Path) -> None:
    conf = project / "conf" / "config.yaml"
    conf.write_text(conf.read_text().replace("snakesweep:\n", "snakesweep:\n  timeuot: 5\n"))


def test_snakesweep_plan_refuses_a_misspelt_option(project: Path) -> None:
    """Once accepted silently (exit 0); now one line and exit status 2, before any plan is
    cached."""
    _misspelt(project)
    out = snakesweep("plan", cwd=project)
    assert out.returncode == 2, out.stderr
    assert out.stderr == ("snakesweep: unknown option snakesweep.timeuot; did you mean timeout?\n")
    assert out.stdout == "" and not (project / "results").exists()


def test_plain_snakemake_refuses_a_misspelt_option(project: Path) -> None:
    _misspelt(project)
    out = tool("snakemake", "-n", "--snakefile", SNAKEFILE, cwd=project, check=False)
    assert out.returncode != 0  # Snakemake says why on stdout, as for any WorkflowError
    assert "snakesweep: unknown option snakesweep.timeuot; did you mean timeout?" in out.stdout
    assert not (project / "results" / "runs").exists()


# -- the options page's table ----------------------------------------------------------------------


def _table_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "options_table", REPO / "docs" / "options_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_options_pages_table_is_the_one_the_schema_prints() -> None:
    """When this fails: ``python docs/options_table.py --write``."""
    script = _table_script()
    page = (REPO / "docs" / "reference" / "options.md").read_text(encoding="utf-8")
    assert script.PAGE == REPO / "docs" / "reference" / "options.md"
    assert script.page_table(page) == script.table()
    rows = script.table().splitlines()
    assert len(rows) == 2 + len(fields(Options)) and rows[2].startswith("| `experiment` |")


def test_the_table_is_written_between_the_markers_only() -> None:
    script = _table_script()
    text = f"before\n{script.BEGIN}\nold table\n{script.END}\nafter\n"
    written = script.with_table(text)
    assert written == f"before\n{script.BEGIN}\n{script.table()}{script.END}\nafter\n"
    assert script.with_table(written) == written
    with pytest.raises(ValueError, match="no <!-- options:begin -->"):
        script.with_table("no markers\n")
