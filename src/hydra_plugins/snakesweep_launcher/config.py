"""The config of ``hydra/launcher=snakesweep``, registered in Hydra's ConfigStore."""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class SnakesweepLauncherConf:
    _target_: str = "hydra_plugins.snakesweep_launcher.snakesweep_launcher.SnakesweepLauncher"

    # cores Snakemake may use at once on this machine (snakemake --cores); null: all of them
    cores: int | None = None

    # where the runs, sweep.nc and runs.csv go, relative to the directory the app started in
    results: str = "results"

    # Snakemake executor plugin for the jobs (snakemake --executor), e.g. slurm; null: local
    executor: str | None = None

    # jobs at once on a cluster executor (snakemake --jobs); null: Snakemake's default
    jobs: int | None = None

    # more arguments for snakemake, passed as they are, e.g. ["--retries", "2"]
    snakemake_args: list[str] = field(default_factory=list)


ConfigStore.instance().store(
    group="hydra/launcher",
    name="snakesweep",
    node=SnakesweepLauncherConf,
    provider="snakesweep",
)
