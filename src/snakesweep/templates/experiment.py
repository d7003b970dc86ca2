"""A starter experiment written by `snakesweep init`: replace its body with yours.

snakesweep calls ``main`` once per point of the sweep with that point's resolved config
(read-only) and stores what it returns: numbers, numpy arrays or xarray DataArrays.
"""

import numpy as np
import xarray as xr


def main(cfg):
    rng = np.random.default_rng(cfg.seed)
    steps = np.arange(cfg.steps)
    loss = np.exp(-cfg.lr * steps) + 0.01 * rng.standard_normal(cfg.steps)
    return {
        "loss": xr.DataArray(loss, dims="step", coords={"step": steps}),
        "final_loss": float(loss[-1]),
    }
