"""The launcher Hydra finds: a thin shell; its core (``snakesweep.hydra``) is imported in
``setup()`` and ``launch()``, so a Hydra app that does not launch through snakesweep never
pays for it."""

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class SnakesweepLauncher(Launcher):
    def __init__(self, **options: Any) -> None:
        """Runs each job of a Hydra sweep as one content-addressed run through Snakemake:
        runs already done are not computed again. ``options``: SnakesweepLauncherConf."""
        self.options = options
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self.state: Any = None  # the jobs of this multirun's earlier batches

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from snakesweep.hydra.job import JobComposer

        # The sweeper composes every job of a batch before it launches it
        # (validate_batch_is_legal), through this same context: a JobComposer makes that,
        # and the launch's own composition, cost a copy per job instead of a compose.
        if not isinstance(hydra_context.config_loader, JobComposer):
            hydra_context.config_loader = JobComposer(hydra_context.config_loader)
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context
        self.state = None

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from snakesweep.hydra import launcher

        return launcher.launch(self, job_overrides, initial_job_idx)
