"""Shell completion: `snakesweep completion bash` completes commands, options, config keys
and group options in overrides, and run ids, in the real bash; the keys are listed quickly,
and no name from a config reaches a shell command line."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import COMMANDS, snakesweep, write
from snakesweep.cli.completion import keys_of

RUN_IDS = ("28cb5eb5313a2740", "9951c060bd334b46", "d506b7e7500e956d")


@pytest.fixture
def completing(repo_copy: Path) -> Path:
    """The shipped example, three runs in results/runs, and its bash completion script."""
    for run_id in RUN_IDS:
        (repo_copy / "results" / "runs" / run_id).mkdir(parents=True)
    (repo_copy / "results" / "runs" / "28cb-not-a-run").mkdir()
    out = snakesweep("completion", "bash", cwd=repo_copy)
    assert out.returncode == 0, out.stderr
    (repo_copy / "completion.bash").write_text(out.stdout)
    return repo_copy


def complete_in_bash(root: Path, *words: str) -> list[str]:
    """COMPREPLY of the script's completion function for the words typed (the last one
    being completed), as bash fills COMP_WORDS: ``model=m`` is ``model``, ``=``, ``m``."""
    script = root / "completion.bash"
    code = (
        'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); '
        '_snakesweep snakesweep; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # its snakesweep
    out = subprocess.run(
        ["bash", "-c", code, str(script), "snakesweep", *words],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


@pytest.mark.parametrize(
    "words, expected",
    [
        pytest.param(("",), list(COMMANDS), id="commands"),
        (("st",), ["status"]),
        (("plan", "--fo"), ["--format"]),
        (("plan", "--format", ""), ["table", "json"]),
        (("completion", ""), ["bash", "zsh"]),
        (("show", "28"), ["28cb5eb5313a2740"]),  # a run id prefix; 28cb-not-a-run is none
        (("run", "--from", "99"), ["9951c060bd334b46"]),
        (("show", "--results", "elsewhere", "28"), []),
        (("plan", "optimizer."), ["optimizer.lr=", "optimizer.steps="]),
        (("run", "--cores", "2", "data.n"), ["data.n_samples=", "data.noise="]),
        (("plan", "mo"), ["model=", "model.name=", "model.hidden="]),
        (("plan", "model", "="), ["linear", "mlp"]),  # model=: bash splits at the "="
        (("plan", "model", "=", "m"), ["mlp"]),
        (("plan", "-cd", "nowhere", "optimizer."), []),  # -cd's config tree
    ],
)
def test_bash_completes_commands_options_run_ids_and_config_keys(
    completing: Path, words: tuple[str, ...], expected: list[str]
) -> None:
    """The candidates bash offers for the word being typed."""
    assert complete_in_bash(completing, *words) == expected


def typed_in_bash(root: Path, keys: list[tuple[bytes, bytes]]) -> None:
    """Type each line of ``keys`` into an interactive bash (a pty) that sourced the script,
    waiting for the echo that matches its pattern; an AssertionError with what bash showed
    when it does not come."""
    master, slave = pty.openpty()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    bash = subprocess.Popen(
        ["bash", "--norc", "--noprofile", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=root,
        env={**os.environ, "PATH": path, "PS1": "$ ", "TERM": "dumb", "INPUTRC": "/dev/null"},
        start_new_session=True,
    )
    os.close(slave)

    def shown(pattern: bytes) -> None:
        seen, end = b"", time.monotonic() + 30
        while time.monotonic() < end and not re.search(pattern, seen):
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        assert re.search(pattern, seen), seen

    try:
        os.write(master, b"source completion.bash; echo RE''ADY\n")
        shown(rb"READY\r?\n")
        for typed, pattern in keys:
            os.write(master, typed)
            shown(pattern)
            os.write(master, b"\x15")  # C-u: the line emptied
    finally:
        bash.kill()
        bash.wait()
        os.close(master)


def test_a_key_is_completed_without_a_space_and_an_option_with_one(completing: Path) -> None:
    """In an interactive bash, Tab after ``optimizer.l`` leaves ``optimizer.lr=`` for the
    value to follow; after ``model=m`` (bash splits the word at "=") ``model=mlp``."""
    typed_in_bash(
        completing,
        [
            (b"snakesweep plan optimizer.l\tX", rb"optimizer\.lr=X"),
            (b"snakesweep plan model=m\tX", rb"model=mlp X"),
            (b"snakesweep show 28\tX", rb"show 28cb5eb5313a2740 X"),
        ],
    )


def test_the_keys_come_from_the_yaml_files_alone(conf_tree: Path) -> None:
    """Every dotted key of the primary config, its groups with their options and the keys
    of the options chosen; a group it does not choose with +; hydra's and the domain's left
    out; names a shell would treat specially never offered."""
    write(conf_tree / "db" / "$(touch pwned).yaml", "driver: x\n")
    with open(conf_tree / "config.yaml", "a", encoding="utf-8") as f:
        f.write("'$(touch pwned)': 1\n'a b': 2\nnested:\n  'x;y': 3\n  ok: 4\n")
    write(conf_tree / "extra" / "one.yaml", "k: 1\n")
    keys = keys_of(conf_tree)
    assert keys == [
        "snakesweep.experiment=",
        "optimizer.lr=",
        "optimizer.momentum=",
        "optimizer.name=",
        "a=",
        "b=",
        "flag=",
        "name=",
        "seed=",
        "lr_copy=",
        "nested.ok=",
        "db=",
        "db=postgres",
        "db=sqlite",
        "db.driver=",
        "db.port=",
        "+extra=",
        "+extra=one",
        "model=",
        "model=cnn",
        "model=mlp",
        "model=rnn",
        "model.kind=",
        "model.width=",
        "model.depth=",
    ]


def test_no_config_name_reaches_a_shell_command(completing: Path) -> None:
    """A key named ``$(touch pwned)`` is neither offered nor run while completing."""
    with open(completing / "conf" / "config.yaml", "a", encoding="utf-8") as f:
        f.write("'$(touch pwned)': 1\n'`touch pwned`': 2\n")
    offered = complete_in_bash(completing, "plan", "")
    assert "optimizer.lr=" in offered and not any("pwned" in k for k in offered)
    assert not (completing / "pwned").exists()


def test_listing_the_keys_imports_neither_hydra_nor_snakemake(repo_copy: Path) -> None:
    """``completion --keys`` (asked at each Tab) is answered from the YAML files, without
    Hydra or Snakemake; a config that cannot be read lists nothing."""
    code = (
        "import sys\nfrom snakesweep.cli import main\nstatus = main(sys.argv[1:])\n"
        "print(status, sorted(m for m in ('hydra', 'snakemake', 'omegaconf', 'xarray', "
        "'shtab') if m in sys.modules))"
    )
    for args, listed in (
        (["completion", "--keys"], True),
        (["completion", "--keys", "-cd", "x"], False),
    ):
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=repo_copy,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and out.stderr == ""
        *keys, last = out.stdout.splitlines()
        assert last == "0 []"
        assert ("optimizer.lr=" in keys) is listed and ("model=mlp" in keys) is listed


ZSH_SESSION = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'autoload -U compinit; compinit -u; eval "$(snakesweep completion zsh)"; print RE""ADY'
zpty -r z line '*READY*'
for typed expected in "$@"; do
  zpty -w -n z "$typed"$'\t'
  zpty -r z got "*$expected*"  # waits for the completion (the caller's timeout bounds it)
  print -r -- "completed: $expected"
  zpty -w -n z $'\C-u'
done
zpty -d z
"""


def test_the_zsh_script_completes_in_zsh(completing: Path) -> None:
    """zsh's script (``#compdef``, evaluated after compinit) completes a command, an option,
    a run id, a config key and a group's option in a real interactive zsh; skipped where
    zsh is not installed."""
    out = snakesweep("completion", "zsh", cwd=completing)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("#compdef snakesweep\n")
    assert "_snakesweep_overrides() {" in out.stdout and "_snakesweep_run_ids() {" in out.stdout
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed")
    cases = [
        ("snakesweep sh", "snakesweep show"),
        ("snakesweep plan --fo", "--format"),
        ("snakesweep show 28", "28cb5eb5313a2740"),
        ("snakesweep plan optimizer.", "optimizer.steps="),  # two keys: both listed
        ("snakesweep plan model=m", "model=mlp"),
    ]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        [zsh, "-f", "-c", ZSH_SESSION, "zsh", *(word for case in cases for word in case)],
        cwd=completing,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
    )
    assert done.stdout.splitlines() == [f"completed: {expected}" for _, expected in cases]


def test_a_bad_shell_is_one_line(repo_copy: Path) -> None:
    out = snakesweep("completion", "fish", cwd=repo_copy)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("snakesweep: argument shell: invalid choice: 'fish'")
