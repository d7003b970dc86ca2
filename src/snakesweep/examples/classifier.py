"""A small but real experiment: a classifier trained by full-batch gradient descent.

Numpy only. The data are two interleaved half-moons with Gaussian noise; the model is
logistic regression (``hidden: 0``) or a one-hidden-layer tanh network.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def make_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, labelled 0 and 1."""
    half = n // 2
    t = rng.uniform(0, np.pi, size=n)
    upper = np.c_[np.cos(t[:half]), np.sin(t[:half])]
    lower = np.c_[1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])]
    x = np.r_[upper, lower] + rng.normal(scale=noise, size=(n, 2))
    y = np.r_[np.zeros(half), np.ones(n - half)]
    return x, y


def train(cfg: Any) -> dict[str, Any]:
    """Train on a fresh data set; return the loss curve over ``step`` and the final scores."""
    import xarray as xr

    rng = np.random.default_rng(cfg.seed)
    x, y = make_moons(cfg.data.n_samples, cfg.data.noise, rng)
    split = len(x) * 3 // 4
    order = rng.permutation(len(x))
    train_idx, test_idx = order[:split], order[split:]

    hidden = int(cfg.model.hidden)
    w1 = rng.normal(scale=1.0, size=(2, hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(scale=0.1, size=hidden if hidden else 2)
    b2 = 0.0

    def forward(xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.tanh(xb @ w1 + b1) if hidden else xb
        return h, 1 / (1 + np.exp(-(h @ w2 + b2)))

    losses = np.empty(cfg.optimizer.steps)
    xt, yt = x[train_idx], y[train_idx]
    for step in range(cfg.optimizer.steps):
        h, p = forward(xt)
        p = np.clip(p, 1e-9, 1 - 1e-9)
        losses[step] = -np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p))
        g = (p - yt) / len(xt)
        grad_w2, grad_b2 = h.T @ g, g.sum()
        if hidden:
            gh = np.outer(g, w2) * (1 - h**2)
            w1 -= cfg.optimizer.lr * xt.T @ gh
            b1 -= cfg.optimizer.lr * gh.sum(axis=0)
        w2 = w2 - cfg.optimizer.lr * grad_w2
        b2 -= cfg.optimizer.lr * grad_b2

    def accuracy(idx: np.ndarray) -> float:
        return float(np.mean((forward(x[idx])[1] > 0.5) == y[idx]))

    return {
        "loss": xr.DataArray(
            losses,
            dims="step",
            coords={"step": np.arange(len(losses))},
            attrs={"long_name": "training cross-entropy"},
        ),
        "train_accuracy": accuracy(train_idx),
        "test_accuracy": accuracy(test_idx),
    }
