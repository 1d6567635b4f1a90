"""Class masks drawn over photos (chapter 7): one colour per class, the background left clear.

Masks hold class indices, ``(height, width)`` integers, with class 0 the background (as in
``cnnkit.scenes``: digit ``d`` is class ``d + 1``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.patches import Patch

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan", "gold", "lime", "navy")  # fmt: skip


def colorize(mask, num_classes: int, alpha: float = 0.65) -> np.ndarray:
    """An RGBA image ``(height, width, 4)`` of ``mask``: class ``c > 0`` in colour ``c - 1`` of the
    palette, the background (0) fully transparent."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    if mask.dtype.kind not in "iu" or mask.min(initial=0) < 0 or mask.max(initial=0) >= num_classes:
        raise ValueError(f"mask must hold integer classes 0..{num_classes - 1}")
    if num_classes - 1 > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE) + 1} classes can be coloured, got {num_classes}")
    table = np.array([(0, 0, 0, 0)] + [to_rgba(c, alpha) for c in PALETTE[: num_classes - 1]])
    return table[mask]


def overlay_mask(ax, image, mask, *, num_classes: int = 11, alpha: float = 0.65, title=None):
    """Show ``image`` on ``ax`` with ``mask`` tinted over it (``image`` None: the mask alone)."""
    if image is not None:
        image = np.asarray(image)
        if image.shape[:2] != np.shape(mask):
            raise ValueError(f"image {image.shape[:2]} and mask {np.shape(mask)} differ in size")
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.imshow(colorize(mask, num_classes, alpha), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def class_legend(fig, class_names, *, ncol=None):
    """A legend of the palette's colours for ``class_names`` (the names of classes 1, 2, ...)."""
    handles = [Patch(color=PALETTE[i], label=name) for i, name in enumerate(class_names)]
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol or len(handles), fontsize=8)


def show_masks(images, rows: dict, *, num_classes: int = 11, class_names=None, panel: float = 1.7,
               scores: dict | None = None):  # fmt: skip
    """A grid: one column per image, one row per entry of ``rows`` (``{name: masks (n, h, w)}``),
    each mask over its image, after a first row of the images alone. ``scores`` (``{name: text}``)
    adds a line under a row's name. Returns the figure."""
    images = np.asarray(images)
    for name, masks in rows.items():
        if np.shape(masks)[:1] != images.shape[:1]:
            raise ValueError(f"rows[{name!r}] has {len(masks)} masks for {len(images)} images")
    nrows, ncols = len(rows) + 1, len(images)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols + 1.2, panel * nrows + 0.6),
                             squeeze=False, layout="constrained")  # fmt: skip
    for column, image in enumerate(images):
        axes[0, column].imshow(image)
        for row, masks in enumerate(rows.values(), start=1):
            overlay_mask(
                axes[row, column], image, np.asarray(masks[column]), num_classes=num_classes
            )
    for row, name in enumerate(["photo", *rows]):
        label = name if not scores or name not in scores else f"{name}\n{scores[name]}"
        axes[row, 0].set_axis_on()
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=9)
    for ax in axes[0, 1:]:
        ax.set_axis_off()
    if class_names is not None:
        class_legend(fig, class_names)
    return fig
