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


def draw_iou(ax, box_a, box_b, *, title=None):
    """Two ``"xyxy"`` boxes with their union shaded light and their intersection dark. Returns ``ax``.

    The title gives the areas and their ratio, the IoU.
    """
    from matplotlib.patches import Rectangle

    from cnnkit.boxes import area, iou

    a, b = np.asarray(box_a, float), np.asarray(box_b, float)
    inner = np.concatenate([np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])])
    for box in (a, b):  # the union: both boxes, light
        ax.add_patch(Rectangle(box[:2], *(box[2:] - box[:2]), facecolor="tab:blue", alpha=0.2))
    if (inner[2:] > inner[:2]).all():
        ax.add_patch(Rectangle(inner[:2], *(inner[2:] - inner[:2]), facecolor="tab:blue",
                               alpha=0.6, hatch="//"))  # fmt: skip
    for box, color in ((a, "tab:red"), (b, "tab:green")):
        ax.add_patch(Rectangle(box[:2], *(box[2:] - box[:2]), fill=False, edgecolor=color, lw=2))
    both = np.stack([a, b])
    ax.set_xlim(both[:, 0].min() - 2, both[:, 2].max() + 2)
    ax.set_ylim(both[:, 3].max() + 2, both[:, 1].min() - 2)  # y grows downwards, as in images
    ax.set_aspect("equal")
    overlap = float(iou(a[None], b[None])[0, 0])
    shared = float(area(inner[None])[0]) if (inner[2:] > inner[:2]).all() else 0.0
    union = float(area(a[None])[0] + area(b[None])[0]) - shared
    ax.set_title(title or f"{shared:.0f} / {union:.0f} = IoU {overlap:.2f}", fontsize=9)
    return ax


def draw_grid(ax, image, boxes, labels, anchors, stride, *, title=None):
    """A scene on its detection grid: each object's cell (the one holding its centre) filled, its
    box, and the anchor in charge of it (most similar shape) dashed on the same centre. Returns ``ax``.
    """
    from matplotlib.patches import Rectangle

    from cnnkit.boxes import convert_format, size_iou

    image = np.asarray(image)
    ax.imshow(image)
    height, width = image.shape[:2]
    for x in np.arange(0, width + 1, stride):
        ax.axvline(x - 0.5, color="white", lw=0.5, alpha=0.6)
    for y in np.arange(0, height + 1, stride):
        ax.axhline(y - 0.5, color="white", lw=0.5, alpha=0.6)
    centres = convert_format(np.asarray(boxes, float).reshape(-1, 4), "xyxy", "center_xywh")
    best = size_iou(centres[:, 2:], np.asarray(anchors, float)).argmax(axis=1)
    for (cx, cy, _, _), box, label, a in zip(centres, boxes, labels, best, strict=True):
        color = COLORS[int(label) % len(COLORS)]
        cell = (cx // stride * stride - 0.5, cy // stride * stride - 0.5)
        ax.add_patch(Rectangle(cell, stride, stride, facecolor=color, alpha=0.6))
        ax.add_patch(_rectangle(*box, color, "-"))
        w, h = anchors[a]
        ax.add_patch(_rectangle(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, "white", "--"))
        ax.plot(cx - 0.5, cy - 0.5, "o", color="white", ms=3)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax
