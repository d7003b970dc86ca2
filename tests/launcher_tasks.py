"""Task functions at module level, which the launcher's workers import by reference."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

OmegaConf.register_new_resolver("launcher_tasks_suffix", lambda: "foo", replace=True)


def return_100(cfg: DictConfig) -> Any:
    """The task of Hydra's LauncherTestSuite (``get_task_function``): returns 100."""
    return 100


def return_x(cfg: DictConfig) -> Any:
    """Returns ``cfg.x``, resolved in the job's process (where this module's resolver is)."""
    return cfg.x


def count_and_add(cfg: DictConfig) -> Any:
    """Appends a line to calls.txt in the directory the app started in; returns foo + a."""
    from hydra.utils import get_original_cwd

    with open(f"{get_original_cwd()}/calls.txt", "a", encoding="utf-8") as f:
        f.write(f"a={cfg.a}\n")
    return {"total": cfg.foo + cfg.a, "label": f"a{cfg.a}"}
