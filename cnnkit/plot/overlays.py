"""Boxes and masks drawn over images (chapters 6 and 7); moves to ``cnnkit/plot/overlays.py``.

Boxes are ``"xyxy"`` pixels (``cnnkit.boxes``): a box from x = 3 to x = 7 covers pixels 3 to 6,
whose edges lie at 2.5 and 6.5 in matplotlib's image coordinates, which is where the frame goes.
"""

from __future__ import annotations

import numpy as np

COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan", "tab:pink",
          "tab:olive", "tab:brown", "tab:gray")  # fmt: skip


def draw_boxes(ax, image, boxes, labels=None, scores=None, *, class_names=None, color=None,
               title=None, linestyle="-"):  # fmt: skip
    """Show ``image`` on ``ax`` and frame each box, captioned by its class (and score).

    Colours follow the class unless ``color`` is given. Returns ``ax``.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    for name, values in (("labels", labels), ("scores", scores)):
        if values is not None and len(values) != len(boxes):
            raise ValueError(f"{name} has {len(values)} entries for {len(boxes)} boxes")
    if image is not None:
        image = np.asarray(image)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        label = None if labels is None else int(labels[i])
        edge = color or COLORS[(label or 0) % len(COLORS)]
        ax.add_patch(_rectangle(x0, y0, x1, y1, edge, linestyle))
        text = [] if label is None else [class_names[label] if class_names else str(label)]
        if scores is not None:
            text.append(f"{scores[i]:.2f}")
        if text:
            ax.text(x0 - 0.5, y0 - 1, " ".join(text), color="white", fontsize=8, va="bottom",
                    bbox={"facecolor": edge, "edgecolor": "none", "pad": 1, "alpha": 0.8})  # fmt: skip
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _rectangle(x0, y0, x1, y1, color, linestyle):
    from matplotlib.patches import Rectangle

    return Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                     linewidth=1.5, linestyle=linestyle)  # fmt: skip


def draw_mask(ax, image, mask, *, num_classes=None, alpha=0.5, title=None):
    """Show ``image`` with a class ``mask`` (0 = background, left clear) tinted over it. Returns ``ax``."""
    from matplotlib.colors import ListedColormap

    mask = np.asarray(mask)
    if image is not None and mask.shape != np.asarray(image).shape[:2]:
        raise ValueError(
            f"mask {mask.shape} and image {np.asarray(image).shape[:2]} differ in size"
        )
    num_classes = num_classes or int(mask.max()) + 1
    if image is not None:
        ax.imshow(image)
    colors = [COLORS[(c - 1) % len(COLORS)] for c in range(1, max(num_classes, 2))]
    tinted = np.ma.masked_equal(mask, 0)
    ax.imshow(tinted, cmap=ListedColormap(colors), vmin=1, vmax=max(num_classes - 1, 1),
              alpha=alpha, interpolation="nearest")  # fmt: skip
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def show_detections(images, truths=None, detections=None, *, class_names=None, ncols=4,
                    panel=2.6, titles=None):  # fmt: skip
    """A grid of images with ground-truth boxes (dashed) and detections (solid, with scores).

    ``truths[i] = (boxes, labels)``, ``detections[i] = (boxes, scores, labels)``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    count = len(images)
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, panel * nrows), squeeze=False,
                             layout="constrained")  # fmt: skip
    for i, ax in enumerate(axes.flat):
        if i >= count:
            fig.delaxes(ax)
            continue
        title = None if titles is None else titles[i]
        draw_boxes(ax, images[i], [], title=title)
        if truths is not None:
            draw_boxes(ax, None, truths[i][0], color="white", linestyle="--")
        if detections is not None:
            boxes, scores, labels = detections[i]
            draw_boxes(ax, None, boxes, labels, scores, class_names=class_names)
    return fig
