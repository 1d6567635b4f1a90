"""Architecture diagrams read from the PyTorch blocks themselves, so a figure cannot drift from code.

``draw_block`` draws one block as a flow from its input (bottom) to its output (top): a residual or
bottleneck unit with its skip path (the identity, or the 1×1 projection the unit really holds), an
inception module's four branches, an SE block, a separable convolution, or any ``nn.Sequential``.
``draw_network`` draws a whole ``nn.Sequential`` network as a row of its top-level layers, with an
arc over each residual unit for its skip connection. Labels come from each module's attributes
(kernel size, stride, filters), read by duck typing: this module imports no framework.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

COLORS = {  # by kind of layer
    "conv": "#cfe2f3",
    "depthwise": "#b6d7a8",
    "norm": "#eeeeee",
    "act": "#fff2cc",
    "pool": "#f4cccc",
    "dense": "#d9d2e9",
    "unit": "#c9daf8",
    "module": "#fce5cd",
    "io": "#ffffff",
    "join": "#ffe599",
}
BOX_W, BOX_H = 1.9, 0.55


def _name(module) -> str:
    return type(module).__name__


def _pair(value):
    return value if isinstance(value, tuple) else (value, value)


def _size(value) -> str:
    h, w = _pair(value)
    return f"{h}×{w}"


def _stride(value) -> str:
    s = _pair(value)[0]
    return f", stride {s}" if s != 1 else ""


class _Label:
    """A step that a block computes in ``forward`` without a module of its own (ReLU, sigmoid)."""

    def __init__(self, text, kind):
        self.text, self.kind = text, kind


def layer_label(module) -> tuple[str, str]:
    """A short label for one layer or block, and the kind that picks its colour."""
    if isinstance(module, _Label):
        return module.text, module.kind
    name = _name(module)
    if name == "Conv2d":
        if module.groups > 1 and module.groups == module.in_channels:
            return f"depthwise {_size(module.kernel_size)}{_stride(module.stride)}", "depthwise"
        size = f"conv {_size(module.kernel_size)}, {module.out_channels}"
        return size + _stride(module.stride), "conv"
    if name.startswith("BatchNorm"):
        return "batch norm", "norm"
    if name in ("ReLU", "Sigmoid", "Tanh", "Softmax"):
        return name if name == "ReLU" else name.lower(), "act"
    if name in ("MaxPool2d", "AvgPool2d"):
        kind = "max" if name == "MaxPool2d" else "avg"
        return f"{kind} pool {_size(module.kernel_size)}{_stride(module.stride)}", "pool"
    if name == "AdaptiveAvgPool2d":
        return "global avg pool", "pool"
    if name == "Linear":
        return f"dense {module.out_features}", "dense"
    if name == "Dropout":
        return f"dropout {module.p:.0%}", "norm"
    if name == "Flatten":
        return "flatten", "norm"
    if "LocalResponse" in name:
        return "LRN", "norm"
    if name in ("ResidualUnit", "BottleneckUnit"):
        convs = [m for m in module.main if _name(m) == "Conv2d"]
        stride = max(_pair(c.stride)[0] for c in convs)
        label = (
            f"{'bottleneck' if name == 'BottleneckUnit' else 'residual'} {convs[-1].out_channels}"
        )
        return label + (f" /{stride}" if stride > 1 else ""), "unit"
    if name == "InceptionModule":
        depth = sum(branch[-2].out_channels for branch in module.branches)
        return f"inception → {depth}", "module"
    if name == "SEBlock":
        return "SE block", "module"
    if name == "SeparableConv2D":
        k = _size(module.depthwise.kernel_size)
        return f"separable {k}, {module.pointwise.out_channels}", "depthwise"
    return name, "norm"


def _box(ax, x, y, text, kind, width=BOX_W):
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - BOX_H / 2), width, BOX_H, boxstyle="round,pad=0.04",
            facecolor=COLORS[kind], edgecolor="0.3", linewidth=1,
        )
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(ax, start, end, **style):
    props = {"arrowstyle": "-|>", "color": "0.25", "linewidth": 1, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops={**props, **style})


def _column(ax, x, y0, modules):
    """Stack labelled boxes upwards from y0 + 1, with arrows; return the top box's y."""
    y = y0
    for module in modules:
        _arrow(ax, (x, y + BOX_H / 2), (x, y + 1 - BOX_H / 2))
        y += 1
        _box(ax, x, y, *layer_label(module))
    return y


def _finish(ax, fig, title, xs, top):
    ax.set_xlim(min(xs) - BOX_W / 2 - 0.6, max(xs) + BOX_W / 2 + 0.6)
    ax.set_ylim(-0.6, top + 0.6)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def draw_block(block, ax=None, title=None):
    """Draw one block of ``cnnkit.blocks.torch`` (or an ``nn.Sequential``) as a flow, input at the bottom."""
    name = _name(block)
    if name in ("ResidualUnit", "BottleneckUnit"):
        columns = [list(block.main), list(block.skip)]
    elif name == "InceptionModule":
        columns = [list(branch) for branch in block.branches]
    elif name == "SEBlock":
        columns = [[_Label("global avg pool", "pool"), block.squeeze, _Label("ReLU", "act"),
                    block.excite, _Label("sigmoid", "act")], []]  # fmt: skip
    elif name == "SeparableConv2D":
        columns = [[block.depthwise, block.pointwise]]
    else:
        columns = [list(block)]
    height = max(len(c) for c in columns)
    fig = (
        ax.figure
        if ax is not None
        else plt.figure(figsize=(2.3 * len(columns) + 0.8, 0.62 * height + 2.2))
    )
    ax = ax or fig.add_subplot()
    xs = [2.3 * i for i in range(len(columns))]
    middle = (xs[0] + xs[-1]) / 2 if name == "InceptionModule" else xs[0]
    _box(ax, middle, 0, "input", "io")
    tops = []
    for x, column in zip(xs, columns, strict=True):
        if x != middle:  # branch off the input to the side
            _arrow(ax, (middle + BOX_W / 2 * (1 if x > middle else -1), 0), (x, 0), arrowstyle="-")
        if column and x != middle:
            _arrow(ax, (x, 0), (x, 1 - BOX_H / 2))
            _box(ax, x, 1, *layer_label(column[0]))
            tops.append(_column(ax, x, 1, column[1:]))
        elif column:
            tops.append(_column(ax, x, 0, column))
        else:
            tops.append(0)
    join = height + 1
    joins = {"InceptionModule": "concatenate (depth)", "SEBlock": "× each map by its weight"}
    if name in ("ResidualUnit", "BottleneckUnit", "InceptionModule", "SEBlock"):
        text = joins.get(name, "+  (add)")
        center, width = (xs[0] + xs[-1]) / 2, max(BOX_W, xs[-1] - xs[0] + BOX_W * 0.6)
        _box(ax, center, join, text, "join", width=width)
        for x, top in zip(xs, tops, strict=True):
            _arrow(ax, (x, top + (BOX_H / 2 if top else 0)), (x, join - BOX_H / 2))
        if len(columns) > 1 and not columns[1] and name != "InceptionModule":
            side = "the maps themselves" if name == "SEBlock" else "identity"
            ax.text(xs[1] + 0.1, join / 2, side, fontsize=8, color="0.3", rotation=90, va="center")
        end = join
        if name in ("ResidualUnit", "BottleneckUnit"):
            _arrow(ax, (middle, join + BOX_H / 2), (middle, join + 1 - BOX_H / 2))
            end = join + 1
            _box(ax, middle, end, "ReLU", "act")
    else:
        end = tops[0]
    _arrow(ax, (middle, end + BOX_H / 2), (middle, end + 1 - BOX_H / 2))
    _box(ax, middle, end + 1, "output", "io")
    return _finish(ax, fig, title, xs, end + 1)


def draw_network(model, ax=None, title=None, fold=("ReLU", "BatchNorm2d", "Flatten")):
    """Draw an ``nn.Sequential`` network as a row of its top-level layers, input on the left.

    Layers whose class name is in ``fold`` (activations, batch norm, flattening) are left out to keep
    the row short. Each residual unit gets an arc for its skip connection: solid for the identity,
    dashed for a 1×1 projection (where the unit changes the size or the depth of the maps).
    """
    layers = [m for m in model if _name(m) not in fold]
    fig = ax.figure if ax is not None else plt.figure(figsize=(0.42 * len(layers) + 1.4, 3.6))
    ax = ax or fig.add_subplot()
    width, height = 0.34, 2.3
    for i, module in enumerate(layers):
        text, kind = layer_label(module)
        ax.add_patch(
            FancyBboxPatch(
                (i - width / 2, 0), width, height, boxstyle="round,pad=0.03",
                facecolor=COLORS[kind], edgecolor="0.3", linewidth=0.8,
            )
        )  # fmt: skip
        ax.text(i, height / 2, text, rotation=90, ha="center", va="center", fontsize=7.5)
        if i:
            _arrow(ax, (i - 1 + width / 2 + 0.03, height / 2), (i - width / 2 - 0.03, height / 2))
        if hasattr(module, "skip"):
            projected = len(list(module.skip)) > 0
            ax.annotate(
                "", xy=(i + 0.45, height + 0.05), xytext=(i - 0.45, height + 0.05),
                arrowprops={"arrowstyle": "-|>", "connectionstyle": "arc3,rad=-0.5",
                            "linestyle": "--" if projected else "-", "color": "tab:blue"},
            )  # fmt: skip
    ax.set_xlim(-0.8, len(layers) - 0.2)
    ax.set_ylim(-0.2, height + 0.8)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig
