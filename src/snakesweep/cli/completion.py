"""``snakesweep completion``: a bash or zsh script, written by shtab from the parser itself,
that completes the commands and their options, config keys and group options for overrides
(``optimizer.lr=``, ``model=mlp``) and run ids (``show``, ``--from``).

For an override the script asks ``snakesweep completion --keys`` (``keys_of``), answered
before the parser is built, from the YAML files alone (no Hydra, no composition). Run ids are
the directory names under ``RESULTS/runs``, listed by the shell. A name from a config
reaches no shell command line: only names of letters, digits and ``_.-@/+`` are offered,
and the script matches them in the shell (never through ``compgen -W``, which expands its
words).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from snakesweep.cli.command import no_extra

__all__ = [
    "DIRECTORIES",
    "FILES",
    "OVERRIDES",
    "RUN_IDS",
    "complete",
    "keys_of",
    "print_keys",
    "print_script",
]

OVERRIDES = {"bash": "_snakesweep_overrides", "zsh": "_snakesweep_overrides"}
"""shtab's ``complete`` of an override: the config's keys, its groups and their options."""

FILES = {"bash": "_shtab_compgen_files", "zsh": "_files"}
"""shtab's ``complete`` of a file (its ``shtab.FILE``, without importing shtab for every
command)."""

DIRECTORIES = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/"}
"""shtab's ``complete`` of a directory (``shtab.DIRECTORY``)."""

RUN_IDS = {"bash": "_snakesweep_run_ids", "zsh": "_snakesweep_run_ids"}
"""shtab's ``complete`` of a run id: the runs of RESULTS (``--results``, default results)."""

_NAME = re.compile(r"\+?[A-Za-z0-9_][A-Za-z0-9_.@/-]*=[A-Za-z0-9_.@/+-]*\Z")
"""A name the script may offer: nothing a shell would expand, quote or split."""

_BASH = r"""
# snakesweep's own completions. Names are matched here, in bash: never through compgen -W,
# which would expand them.
_snakesweep_option_value() {  # $1: an option's names; its value given last on the line
  local i value=
  for (( i = 1; i < COMP_CWORD; i++ )); do
    case " $1 " in *" ${COMP_WORDS[i]} "*) value=${COMP_WORDS[i + 1]-} ;; esac
  done
  printf '%s' "$value"
}
_snakesweep_overrides() {  # keys (optimizer.lr=), groups (model=) and their options
  local cur=$1 key= line dir name
  if [[ $cur == "=" ]]; then cur=; fi
  if (( COMP_CWORD > 2 )) && [[ ${COMP_WORDS[COMP_CWORD]} == "=" ||
                                ${COMP_WORDS[COMP_CWORD - 1]} == "=" ]]; then
    # bash split model=ml at its "=" (COMP_WORDBREAKS): the option of the group before it
    if [[ ${COMP_WORDS[COMP_CWORD]} == "=" ]]; then key=${COMP_WORDS[COMP_CWORD - 1]}=
    else key=${COMP_WORDS[COMP_CWORD - 2]}=; fi
  fi
  dir=$(_snakesweep_option_value "-cd --config-dir")
  name=$(_snakesweep_option_value "-cn --config-name")
  while IFS= read -r line; do
    if [[ -n $key ]]; then
      [[ $line == "$key$cur"* && $line != *= ]] && printf '%s\n' "${line#"$key"}"
    elif [[ $cur == *=* ]]; then
      [[ $line == "$cur"* && $line != *= ]] && printf '%s\n' "$line"
    else
      [[ $line == "$cur"* && $line == *= ]] && printf '%s\n' "$line"
    fi
  done < <(snakesweep completion --keys ${dir:+--config-dir "$dir"} \
           ${name:+--config-name "$name"} 2>/dev/null)
}
_snakesweep_run_ids() {  # the runs of RESULTS/runs
  local cur=$1 results path
  results=$(_snakesweep_option_value --results)
  for path in "${results:-results}/runs/$cur"*/; do
    path=${path%/}
    path=${path##*/}
    [[ $path =~ ^[0-9a-f]{16}$ ]] && printf '%s\n' "$path"
  done
}
"""

_BASH_AFTER = r"""
# a key (optimizer.lr=) is completed without the space after it: its value comes next
_snakesweep() {
  _shtab_snakesweep "$@"
  local reply
  for reply in "${COMPREPLY[@]}"; do
    if [[ $reply == *= ]]; then compopt -o nospace 2>/dev/null; break; fi
  done
  return 0
}
complete -o bashdefault -F _snakesweep snakesweep
"""

_ZSH = r"""
# snakesweep's own completions: compadd offers the names as they are (never evaluated)
_snakesweep_overrides() {  # keys (optimizer.lr=), groups (model=) and their options
  local -a lines args
  local i
  for (( i = 2; i < CURRENT; i++ )); do
    case ${words[i]} in
      -cd|--config-dir|-cn|--config-name) args+=(${words[i]} ${words[i+1]}) ;;
    esac
  done
  lines=(${(f)"$(snakesweep completion --keys ${args[@]} 2>/dev/null)"})
  if [[ $PREFIX == *=* ]]; then
    compadd -- ${lines:#*=}
  else
    compadd -S '' -- ${(M)lines:#*=}
  fi
}
_snakesweep_run_ids() {  # the runs of RESULTS/runs
  local results=results i
  local -a runs
  for (( i = 2; i < CURRENT; i++ )); do
    [[ ${words[i]} == --results ]] && results=${words[i+1]}
  done
  setopt localoptions extendedglob
  runs=(${results}/runs/[0-9a-f](#c16)(N/:t))
  compadd -- ${runs}
}
"""


def complete(action: argparse.Action, how: Any) -> argparse.Action:
    """Tell shtab how to complete ``action``'s values (its ``complete`` attribute)."""
    action.complete = how  # type: ignore[attr-defined]
    return action


def print_script(parser: argparse.ArgumentParser, ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep completion SHELL``: print the completion script of ``parser``."""
    import shtab

    no_extra(extra, "completion")
    if ns.shell == "bash":
        script = shtab.complete(parser, "bash", preamble=_BASH) + _BASH_AFTER
    else:
        script = shtab.complete(parser, "zsh", preamble=_ZSH)
    sys.stdout.write(script)
    return 0


def print_keys(argv: Sequence[str]) -> int:
    """``snakesweep completion --keys [-cd DIR] [-cn NAME]``: ``keys_of`` the config, one a
    line; nothing for a config that cannot be read (a completion says no error)."""
    parser = argparse.ArgumentParser(prog="snakesweep completion --keys", add_help=False)
    parser.add_argument("-cd", "--config-dir", default="conf")
    parser.add_argument("-cn", "--config-name", default="config")
    ns, _ = parser.parse_known_args(argv)
    try:
        names = keys_of(Path(ns.config_dir), ns.config_name)
    except (OSError, ValueError):  # yaml's errors are ValueErrors
        return 0
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0


def keys_of(config_dir: Path, config_name: str = "config") -> list[str]:
    """What an override of the config tree may start with, read from its YAML files alone:
    each dotted key of the primary config (``optimizer.lr=``; ``snakesweep.domain`` left
    out), each config group of its defaults list (``model=``) with its options
    (``model=mlp``) and the keys of the option chosen (``model.hidden=``), and the groups
    it does not choose (``+db=``, ``+db=postgres``). Names a shell would treat specially
    are left out."""
    config = _read_yaml(config_dir / f"{config_name}.yaml")
    names = [f"{key}=" for key in _leaf_keys(config, "")]
    chosen: dict[str, Any] = {}
    for entry in config.get("defaults") or []:
        if isinstance(entry, dict) and len(entry) == 1:
            ((group, option),) = entry.items()
            group = str(group).removeprefix("optional ").strip()
            if not group.startswith(("override ", "hydra", "/")) and "@" not in group:
                chosen[group] = option
    for group in _groups(config_dir):
        options = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
        plus = "" if group in chosen else "+"
        names += [f"{plus}{group}=", *(f"{plus}{group}={o}" for o in options)]
        option = chosen.get(group)
        if isinstance(option, str) and option in options:
            chosen_config = _read_yaml(config_dir / group / f"{option}.yaml")
            names += [f"{group}.{key}=" for key in _leaf_keys(chosen_config, "")]
    return [name for name in dict.fromkeys(names) if _NAME.match(name)]


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as f:
        loaded = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded if isinstance(loaded, dict) else {}


def _leaf_keys(node: dict[str, Any], prefix: str) -> Iterator[str]:
    """The dotted keys of ``node`` whose values are no mapping; ``defaults``, ``hydra`` and
    the domain (``snakesweep.domain``) left out."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if not prefix and key in ("defaults", "hydra") or path == "snakesweep.domain":
            continue
        if isinstance(value, dict):
            yield from _leaf_keys(value, f"{path}.")
        else:
            yield path


def _groups(config_dir: Path) -> list[str]:
    """The config groups of a config tree: its directories that hold a YAML file (not
    ``hydra``'s), nested ones as ``a/b``."""
    groups = {p.parent.relative_to(config_dir).as_posix() for p in config_dir.rglob("*.yaml")}
    return sorted(g for g in groups if g != "." and not g.startswith("hydra"))
