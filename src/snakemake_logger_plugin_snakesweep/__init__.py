"""snakesweep's Snakemake logger plugin: ``snakemake --logger snakesweep`` shows the sweep's
progress (``snakesweep.snakemake.display``) instead of Snakemake's job blocks.

Snakemake imports every installed logger plugin whenever it starts, so this module imports
nothing of snakesweep until Snakemake makes its handler.
"""

from __future__ import annotations

import logging

from snakemake_interface_logger_plugins.base import LogHandlerBase

__all__ = ["LogHandler"]


class LogHandler(LogHandlerBase):
    """The handler Snakemake makes of this plugin: records go to a ``SweepDisplay``."""

    def __post_init__(self) -> None:
        from snakesweep.snakemake.display import SweepDisplay

        self.display = SweepDisplay(self.common_settings)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.handle(record)
        except Exception:  # noqa: BLE001 - a display that fails never stops the sweep
            self.handleError(record)

    def close(self) -> None:
        try:
            self.display.close()
        finally:
            super().close()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
