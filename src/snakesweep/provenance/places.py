"""Where relative paths are relative to (``Places``): the repository root, else the working
directory, and the home. Every path, command line, error message and traceback provenance
records is rewritten through it, whichever spelling of the root or home it uses (through a
symlink or not), so no absolute path under the user's home is ever recorded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Places"]


@dataclass(frozen=True)
class Places:
    """Where relative paths are relative to: the repository root, else the working directory.

    ``aliases`` are other spellings of the root or the home (through a symlink), each with
    the spelling it stands for.
    """

    root: Path
    home: Path | None
    aliases: tuple[tuple[str, str], ...] = ()

    @classmethod
    def here(cls, repo_root: Path | None = None) -> Places:
        """The places of this process: ``repo_root``, else the git repository holding the
        working directory, else the working directory; and ``$HOME`` (kept per process
        while the working directory and those variables stay the same)."""
        key = (os.getcwd(), str(repo_root), os.environ.get("HOME"), os.environ.get("PWD"))
        if key not in _PLACES:
            _PLACES[key] = cls._find(repo_root)
        return _PLACES[key]

    @classmethod
    def _find(cls, repo_root: Path | None) -> Places:
        literal = Path(os.path.abspath(repo_root or _git_root(Path.cwd()) or Path.cwd()))
        root = literal.resolve()
        spellings = {str(literal): str(root)}
        pwd = os.environ.get("PWD")
        if pwd and os.path.isabs(pwd):
            for spelt in (Path(pwd), *Path(pwd).parents):  # the shell's spelling of the root
                if spelt.resolve() == root:
                    spellings[str(spelt)] = str(root)
                    break
        home_env = os.environ.get("HOME")
        home = Path(home_env).resolve() if home_env and home_env != "/" else None
        if home is not None and home_env:
            spellings[os.path.abspath(home_env)] = str(home)
        aliases = tuple((a, r) for a, r in spellings.items() if a != r)
        return cls(root=root, home=home, aliases=aliases)

    def _spellings(self) -> list[tuple[str, str, str]]:
        """Each spelling of the root and the home, with what replaces it before a path and
        alone; the longest first (the root usually lies under the home)."""
        out = [(str(self.root), "", ".")]
        if self.home is not None:
            out.append((str(self.home), "~/", "~"))
        targets = {
            str(self.root): ("", "."),
            **({str(self.home): ("~/", "~")} if self.home is not None else {}),
        }
        out += [(a, *targets[r]) for a, r in self.aliases if r in targets]
        return sorted(out, key=lambda spelling: -len(spelling[0]))

    def roots(self) -> tuple[str, ...]:
        """Each spelling of the root (through a symlink or not)."""
        return tuple(base for base, prefix, _ in self._spellings() if not prefix)

    def path(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the root when inside it; under the home as ``~/…``."""
        p = Path(os.path.abspath(path))
        for base, prefix, itself in self._spellings():
            if p.is_relative_to(base):
                rel = p.relative_to(base).as_posix()
                return itself if rel == "." else prefix + rel
        return p.as_posix()

    def text(self, text: str) -> str:
        """``text`` with the root's and the home's absolute paths made relative."""
        for base, prefix, itself in self._spellings():
            text = re.sub(_START + re.escape(f"{base}{os.sep}"), prefix, text)
            text = re.sub(_START + re.escape(base) + _END, itself, text)
        return text


_PLACES: dict[tuple[str, str, str | None, str | None], Places] = {}

_START = r"(?<![\w.~/-])"
"""Where a path may start: not inside a longer one (``/x/repo`` in ``/y/x/repo``)."""
_END = r"(?![\w.-])"
"""Where a path may end: not inside a longer name (``/home/ann`` in ``/home/anna``)."""


def _git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (found without git)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None
