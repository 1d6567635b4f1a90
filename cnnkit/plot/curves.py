"""Curves: how a quantity grows layer by layer or changes epoch by epoch.

``plot_receptive_field_growth`` draws the records of ``cnnkit.receptive.receptive_fields``;
``learning_curves`` draws the loss and accuracy of a Keras ``History`` or of the dict that
``cnnkit.train.fit`` returns (the same keys), so both frameworks' training looks alike.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np


def plot_receptive_field_growth(records, figsize=(7, 3.5), title="Receptive field growth"):
    """Plot the receptive field and the jump of each layer from ``cnnkit.receptive.receptive_fields``."""
    records = list(records)
    if not records:
        raise ValueError("records is empty: pass the result of receptive_fields(layers)")
    names = ["input"] + [record.name for record in records]
    fields = [1] + [record.receptive_field for record in records]
    jumps = [1] + [record.jump for record in records]
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    positions = np.arange(len(names))
    ax.plot(positions, fields, "o-", label="receptive field (pixels)")
    ax.plot(positions, jumps, "s--", label="jump (pixels between neighbours)")
    for x, y in zip(positions, fields, strict=True):
        ax.annotate(str(y), (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
    ax.set_xticks(positions, names, rotation=30, ha="right")
    ax.set_ylabel("input pixels")
    ax.set_ylim(0, max(fields) * 1.15)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title)
    return fig


def learning_curves(history, title: str | None = None):
    """Plot loss and accuracy curves of a Keras ``History`` or of the dict ``fit`` returns.

    Returns the matplotlib Figure (two panels: loss, accuracy; validation curves dashed).
    """
    curves = getattr(history, "history", history)
    if not isinstance(curves, dict) or "loss" not in curves:
        raise ValueError("history must be a Keras History or a dict with at least a 'loss' list")
    metrics = [name for name in ("loss", "accuracy") if name in curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        epochs = range(1, len(curves[name]) + 1)
        ax.plot(epochs, curves[name], marker="o", label=f"training {name}")
        if f"val_{name}" in curves:
            ax.plot(
                epochs,
                curves[f"val_{name}"],
                marker="o",
                linestyle="--",
                label=f"validation {name}",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
        finite = [value for value in curves[name] if math.isfinite(value)]
        if name == "accuracy" and finite:
            ax.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
