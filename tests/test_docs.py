"""The documentation: the site builds with ``mkdocs build --strict``, and its examples run.

Every fenced ``python``, ``console``, ``sh`` or ``bash`` block of README.md and docs/ is
executed (docs/writing-docs.md says how to write one), unless the line before its fence
is ``<!-- docs-test: skip (why) -->``. The same line chooses where it runs:

- ``example`` (the default): a copy of the shipped example with its sweep computed
  (``snakemake --cores 2``, once per test session);
- ``init``: a new directory holding ``my-project/``, a git repository with ``mypkg/train.py``
  (``main(cfg)``) committed, for ``snakesweep init``;
- ``empty``: an empty directory.

After the setup, ``exit N`` (every command of the block exits N) and ``no-output`` (the
shown output is not compared). A ``python`` or ``yaml`` block whose first line is
``# file: PATH`` is written to PATH rather than run. The blocks of one page with one setup
share one directory, in the page's order, as a reader typing them would. A ``python`` block
runs as a script; a ``console`` block's ``$`` lines run in bash, and the words of the output
shown under them (lines with ``…`` aside) must occur in what they print; an ``sh``/``bash``
block's lines are commands, output not compared.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, made_once, tool, tool_environment

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LANGUAGES = ("python", "console", "sh", "bash")
FILES = ("yaml", "python")  # a block whose first line is `# file: PATH` is that file
SETUPS = ("example", "init", "empty")
MARKER = re.compile(r"^<!-- docs-test: (.*) -->$")


@dataclass
class Block:
    """A fenced block of a page: where it is, its language, its text and its marker."""

    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str = ""
    setup: str = "example"
    skip: str | None = None
    exit: int = 0
    compare: bool = True

    @property
    def file(self) -> str | None:
        """Where the block is written instead of run, when its first line names a file."""
        first = self.text.splitlines()[0] if self.text.strip() else ""
        return first.removeprefix("# file: ").strip() if first.startswith("# file: ") else None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line} ({self.language} block)"


@dataclass
class Session:
    """The blocks of one page with one setup, run in one directory in order."""

    page: Path
    setup: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.setup}"


def read_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` in one of ``LANGUAGES``, with its marker read."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,})(\w*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, language = fence.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        text = "\n".join(line.removeprefix(indent) for line in lines[i + 1 : end])
        if language in LANGUAGES or (language in FILES and text.startswith("# file: ")):
            block = Block(page, i + 1, language, text + "\n")
            marker = MARKER.match(lines[i - 1].strip()) if i else None
            if marker:
                _read_marker(block, marker.group(1))
            blocks.append(block)
        i = end + 1
    return blocks


def _read_marker(block: Block, marker: str) -> None:
    """Fill ``block``'s settings from its ``<!-- docs-test: … -->`` line."""
    block.marker = marker
    if marker.startswith("skip"):
        block.skip = marker.removeprefix("skip").strip(" ()") or "marked skip"
        return
    words = marker.split()
    while words:
        word = words.pop(0)
        if word in SETUPS:
            block.setup = word
        elif word == "exit":
            block.exit = int(words.pop(0))
        elif word == "no-output":
            block.compare = False
        else:
            raise ValueError(f"{block.where}: unknown docs-test word {word!r} in {marker!r}")


def sessions() -> list[Session]:
    """The executed blocks, by page and setup, in the page's order."""
    found: dict[tuple[Path, str], Session] = {}
    for page in PAGES:
        for block in read_blocks(page):
            if block.skip is None:
                key = (page, block.setup)
                found.setdefault(key, Session(page, block.setup)).blocks.append(block)
    return list(found.values())


def commands(block: Block) -> list[tuple[str, str]]:
    """A block's commands, each with the output shown under it (console blocks)."""
    lines = block.text.splitlines()
    if block.language != "console":
        lines = [f"$ {line}" for line in _joined(lines) if line and not line.startswith("#")]
    out: list[tuple[str, str]] = []
    for line in _joined(lines):
        if line.startswith("$ "):
            out.append((line[2:], ""))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + line + "\n")
    return out


def _joined(lines: list[str]) -> list[str]:
    """Lines with their backslash continuations joined."""
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    return joined


def missing_words(shown: str, printed: str) -> list[str]:
    """The words of the output a page shows that the command did not print (lines with an
    ellipsis, which stands for output left out, aside)."""
    kept = "\n".join(line for line in shown.splitlines() if "…" not in line)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]{3,}", kept) if w not in printed]


# -- the setups ---------------------------------------------------------------------------------

TRAIN = '''def main(cfg):
    """The tour's experiment: a score for each seed."""
    return {"score": 1.0 / (1 + cfg.seed)}
'''


EXPERIMENT = "src/snakesweep/examples/classifier.py"
DVC_CODE = ("src/snakesweep/merge", "src/snakesweep/view", "src/snakesweep/provenance")
"""What dvc.yaml's stages depend on besides conf/ and workflow/: copied so `dvc repro` runs
(the runs themselves use the installed snakesweep)."""


def _make_example(where: Path) -> None:
    """The shipped example in a git repository of its own, its sweep computed."""
    for part in ("conf", "workflow", *DVC_CODE):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / part, where / part, ignore=ignore)
    for part in ("dvc.yaml", ".gitignore", "results/.gitignore", EXPERIMENT):
        (where / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / part, where / part)
    tool("git", "init", "-q", cwd=where)
    tool("git", "add", "-A", cwd=where)
    tool("git", "commit", "-qm", "The shipped example", cwd=where)
    tool("snakemake", "--cores", "2", cwd=where)


def _setup(session: Session, tmp: Path, factory: pytest.TempPathFactory) -> Path:
    """The directory ``session``'s blocks start in."""
    if session.setup == "example":
        shutil.copytree(made_once(factory, "docs-example", _make_example), tmp / "example")
        return tmp / "example"
    work = tmp / "work"
    work.mkdir()
    if session.setup == "init":
        project = work / "my-project"
        (project / "mypkg").mkdir(parents=True)
        (project / "mypkg" / "__init__.py").write_text("")
        (project / "mypkg" / "train.py").write_text(TRAIN)
        tool("git", "init", "-q", cwd=project)
        tool("git", "add", "-A", cwd=project)
        tool("git", "commit", "-qm", "My project", cwd=project)
    return work


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory):
    """The environment the examples run in: git and DVC without the user's settings, no
    SLURM to ask, matplotlib without a display, this interpreter's commands first."""
    with tool_environment(tmp_path_factory.mktemp("dvc-site")), pytest.MonkeyPatch.context() as p:
        p.setenv("SLURM_CONF", os.devnull)
        p.setenv("MPLBACKEND", "Agg")
        p.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        yield


# -- the tests ----------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: no broken link, no page left out of the nav, no warning;
    the command line's reference holds every command, the API's every exported name."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.perf_counter() - started
    assert out.returncode == 0, f"mkdocs build --strict failed ({took:.1f} s):\n{out.stderr}"
    print(f"mkdocs build --strict: {took:.1f} s")
    cli = (tmp_path / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in _command_names():
        assert f"snakesweep {command}" in cli, f"the CLI reference lacks {command!r}"
    api = (tmp_path / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    import snakesweep

    for name in snakesweep.__all__:
        if name != "__version__":
            assert f"{name}</code>" in api or f">{name}<" in api, f"the API page lacks {name}"


def _command_names() -> list[str]:
    """The subcommands of ``snakesweep``, as its parser has them."""
    import argparse

    from snakesweep.cli.parser import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("snakesweep has no subcommands")


def test_the_readme_is_a_front_page() -> None:
    """README.md: at most 300 lines; its links to docs/ lead to pages; its test command is
    the one CI runs (.ci/run)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), f"README.md links to {target}, which is missing"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert f"```sh\n{ci}\n```" in readme


def test_every_block_is_run_or_says_why_not() -> None:
    """The convention holds: a marker names a known setup or a reason to skip, and every
    page has its blocks counted."""
    blocks = [block for page in PAGES for block in read_blocks(page)]
    skipped = [b for b in blocks if b.skip is not None]
    assert all(b.skip for b in skipped)
    ran = sum(len(s.blocks) for s in sessions())
    assert ran + len(skipped) == len(blocks)
    print(f"{ran} blocks run, {len(skipped)} skipped")


@pytest.mark.slow
@pytest.mark.parametrize("session", sessions(), ids=lambda s: s.id)
def test_the_examples_run(
    session: Session, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, docs_env: None
) -> None:
    """Each example of a page does what the page says, in order."""
    cwd = _setup(session, tmp_path, tmp_path_factory)
    scripts = tmp_path / "blocks"
    scripts.mkdir()
    for block in session.blocks:
        if block.file is not None:
            (cwd / block.file).parent.mkdir(parents=True, exist_ok=True)
            (cwd / block.file).write_text(block.text, encoding="utf-8")
            continue
        if block.language == "python":
            script = scripts / f"line{block.line}.py"
            script.write_text(block.text, encoding="utf-8")
            out = subprocess.run(
                [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=300
            )
            assert out.returncode == block.exit, (
                f"{block.where} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
            )
            continue
        for command, shown in commands(block):
            pwd = scripts / "pwd"
            script = f"{command}\n__status=$?; pwd > {pwd}; exit $__status\n"
            out = subprocess.run(
                ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300
            )
            printed = out.stdout + out.stderr
            assert out.returncode == block.exit, (
                f"{block.where}: `{command}` exited {out.returncode}:\n{printed}"
            )
            cwd = Path(pwd.read_text().strip())
            if block.compare and block.language == "console":
                missing = missing_words(shown, printed)
                assert not missing, (
                    f"{block.where}: `{command}` did not print {missing}; it printed:\n{printed}"
                )
