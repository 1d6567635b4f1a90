"""Convolution geometry shared by the chapters: output sizes, TF's "SAME" padding, kernel layouts, grids.

Sizes are along one axis (height or width). ``padding`` is ``"same"`` or ``"valid"`` (any case, as
TensorFlow writes ``"SAME"`` and Keras ``"same"``) or a number of zeros added on *each* side, as
PyTorch's ``padding=1`` means. With "same", TensorFlow pads ``ceil(n / s)`` outputs' worth of zeros,
as evenly as it can, the odd zero at the bottom or right; ``same_padding`` says how many on each side
and ``pad_same_torch`` adds them to a PyTorch tensor, since PyTorch's own ``padding="same"`` refuses
strides above 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PADDINGS = ("same", "valid")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _padding(padding) -> str | int:
    """Normalize ``padding`` to "same", "valid" or a non-negative int."""
    if isinstance(padding, str):
        if padding.lower() not in PADDINGS:
            raise ValueError(
                f"padding must be 'same', 'valid' or an int, got unknown padding {padding!r}"
            )
        return padding.lower()
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding must be 'same', 'valid' or an int >= 0, got {padding!r}")
    return int(padding)


def conv_output_size(input_size, kernel_size, stride=1, padding="valid", dilation=1) -> int:
    """Number of outputs along one axis of a convolution or pooling layer.

    "same": ``ceil(input_size / stride)``; "valid": ``(input_size - span) // stride + 1`` where
    ``span = dilation * (kernel_size - 1) + 1``; an int ``p``: "valid" on an input padded by ``p``
    zeros on each side.
    """
    size = _positive_int(input_size, "input_size")
    span = _positive_int(dilation, "dilation") * (_positive_int(kernel_size, "kernel_size") - 1) + 1
    stride = _positive_int(stride, "stride")
    padding = _padding(padding)
    if padding == "same":
        return math.ceil(size / stride)
    padded = size if padding == "valid" else size + 2 * padding
    if padded < span:
        raise ValueError(
            f"the kernel spans {span} pixels but the (padded) input has only {padded}: "
            f"input_size={input_size}, kernel_size={kernel_size}, padding={padding!r}"
        )
    return (padded - span) // stride + 1


def same_padding(input_size, kernel_size, stride=1, dilation=1) -> tuple[int, int]:
    """Zeros ``(before, after)`` that TensorFlow's "SAME" padding adds along one axis."""
    size = _positive_int(input_size, "input_size")
    span = _positive_int(dilation, "dilation") * (_positive_int(kernel_size, "kernel_size") - 1) + 1
    stride = _positive_int(stride, "stride")
    outputs = math.ceil(size / stride)
    total = max((outputs - 1) * stride + span - size, 0)
    return total // 2, total - total // 2  # the odd zero goes after: bottom or right


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return _positive_int(value[0], name), _positive_int(value[1], name)
    return _positive_int(value, name), _positive_int(value, name)


def pad_same_torch(x, kernel_size, stride=1, dilation=1):
    """Pad a PyTorch tensor ``(batch, channels, height, width)`` with zeros as TF's "SAME" would.

    A convolution (or pooling) with ``padding=0`` on the result gives TensorFlow's "SAME" output,
    for any stride. ``kernel_size``, ``stride`` and ``dilation``: an int or a pair (height, width).
    """
    import torch.nn.functional as F

    if x.ndim != 4:
        raise ValueError(
            f"x must be 4-D (batch, channels, height, width), got shape {tuple(x.shape)}"
        )
    (kh, kw), (sh, sw) = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    top, bottom = same_padding(x.shape[2], kh, sh, dh)
    left, right = same_padding(x.shape[3], kw, sw, dw)
    return F.pad(x, (left, right, top, bottom))  # F.pad lists the last axis first


def kernel_to_torch_layout(kernel) -> np.ndarray:
    """A TF/Keras kernel ``(height, width, in, out)`` → PyTorch's ``(out, in, height, width)``."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (height, width, in, out), got shape {kernel.shape}")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def kernel_to_tf_layout(kernel) -> np.ndarray:
    """A PyTorch kernel ``(out, in, height, width)`` → TF/Keras's ``(height, width, in, out)``."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (out, in, height, width), got shape {kernel.shape}")
    return np.ascontiguousarray(kernel.transpose(2, 3, 1, 0))


def copy_conv2d_weights(keras_layer, torch_conv) -> None:
    """Copy the kernel (and bias) of a built Keras ``Conv2D`` into a PyTorch ``nn.Conv2d``."""
    import torch

    weights = keras_layer.get_weights()
    if not weights:
        raise ValueError(f"the Keras layer {keras_layer.name!r} is not built: call it once first")
    kernel = kernel_to_torch_layout(weights[0])
    if tuple(torch_conv.weight.shape) != kernel.shape:
        raise ValueError(
            f"shapes differ: Keras kernel {weights[0].shape} is {kernel.shape} in PyTorch's layout, "
            f"but the PyTorch weight is {tuple(torch_conv.weight.shape)}"
        )
    if (len(weights) > 1) != (torch_conv.bias is not None):
        raise ValueError("one layer has a bias and the other has none (use_bias / bias)")
    with torch.no_grad():
        torch_conv.weight.copy_(torch.from_numpy(kernel))
        if torch_conv.bias is not None:
            torch_conv.bias.copy_(torch.from_numpy(np.asarray(weights[1])))


@dataclass(frozen=True)
class Grid:
    """Where ``draw_grid`` put a grid: cell ``(row, col)``, padding cells at negative or large indices."""

    height: int
    width: int
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    origin: tuple[float, float]  # top-left corner of the padded grid, in data coordinates
    cell: float

    def corner(self, row, col) -> tuple[float, float]:
        """The top-left corner of cell ``(row, col)`` (y grows downwards)."""
        top, _, left, _ = self.padding
        return self.origin[0] + (col + left) * self.cell, self.origin[1] + (row + top) * self.cell

    def center(self, row, col) -> tuple[float, float]:
        x, y = self.corner(row, col)
        return x + self.cell / 2, y + self.cell / 2


def draw_grid(
    ax,
    height,
    width,
    padding=0,
    values=None,
    origin=(0.0, 0.0),
    cell=1.0,
    color="#dbe9f6",
    cmap=None,
    fmt="{:g}",
    fontsize=9,
    title=None,
) -> Grid:
    """Draw a ``height`` × ``width`` grid of cells, framed by ``padding`` zero cells (hatched).

    ``padding``: an int or ``(top, bottom, left, right)``. ``values`` (``height`` × ``width``) are
    written in the cells, and colour them when ``cmap`` is given. Returns the ``Grid`` for
    ``draw_window``; the axes get y pointing down and equal aspect.
    """
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    height, width = _positive_int(height, "height"), _positive_int(width, "width")
    pads = (padding,) * 4 if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(pads) != 4 or any(isinstance(p, bool) or int(p) != p or p < 0 for p in pads):
        raise ValueError(
            f"padding must be an int >= 0 or (top, bottom, left, right), got {padding!r}"
        )
    grid = Grid(height, width, tuple(int(p) for p in pads), tuple(origin), float(cell))
    if values is not None:
        values = np.asarray(values)
        if values.shape != (height, width):
            raise ValueError(f"values must have shape ({height}, {width}), got {values.shape}")
    top, bottom, left, right = grid.padding
    low, high = (values.min(), values.max()) if values is not None else (0, 1)
    for row in range(-top, height + bottom):
        for col in range(-left, width + right):
            inside = 0 <= row < height and 0 <= col < width
            face = "#f2f2f2" if not inside else color
            if inside and values is not None and cmap is not None:
                face = colormaps[cmap]((values[row, col] - low) / ((high - low) or 1))
            ax.add_patch(
                Rectangle(
                    grid.corner(row, col),
                    cell,
                    cell,
                    facecolor=face,
                    edgecolor="0.5" if inside else "0.75",
                    linewidth=0.8,
                    linestyle="-" if inside else ":",
                    hatch=None if inside else "//",
                )
            )
            if inside and values is not None:
                ax.text(
                    *grid.center(row, col),
                    fmt.format(values[row, col]),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                )
    if title:
        x, y = grid.corner(-top, -left)
        ax.text(x, y - 0.3 * cell, title, ha="left", va="bottom", fontsize=fontsize + 1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.autoscale_view()
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    return grid


def draw_window(ax, grid: Grid, row, col, height, width, color="tab:red", fill=True, linewidth=2.0):
    """Outline the ``height`` × ``width`` block of cells of ``grid`` whose top-left cell is ``(row, col)``."""
    from matplotlib.patches import Rectangle

    patch = Rectangle(
        grid.corner(row, col),
        width * grid.cell,
        height * grid.cell,
        facecolor=color if fill else "none",
        alpha=0.25 if fill else 1.0,
        edgecolor=color,
        linewidth=linewidth,
    )
    ax.add_patch(patch)
    if fill:  # a solid outline on top of the translucent fill
        ax.add_patch(
            Rectangle(
                grid.corner(row, col),
                width * grid.cell,
                height * grid.cell,
                facecolor="none",
                edgecolor=color,
                linewidth=linewidth,
            )
        )
    return patch


def draw_link(ax, start, end, color="tab:red", linewidth=1.5):
    """Draw a line from point ``start`` to point ``end`` (e.g. a window's centre to its neuron)."""
    (x0, y0), (x1, y1) = start, end
    return ax.plot([x0, x1], [y0, y1], color=color, linewidth=linewidth)[0]
