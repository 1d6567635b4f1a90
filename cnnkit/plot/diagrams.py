"""Diagrams drawn cell by cell: grids of pixels or neurons, windows over them, links between them.

Chapter 2 draws receptive fields, padding, strides and pooling with these. ``draw_grid`` returns a
``Grid`` that knows where each cell landed, so that ``draw_window`` and ``draw_link`` can point at
cells by ``(row, col)``; padding cells have negative (or past-the-end) indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from cnnkit._checks import is_int, positive_int


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
    height, width = positive_int(height, "height"), positive_int(width, "width")
    pads = tuple(padding) if isinstance(padding, (tuple, list, np.ndarray)) else (padding,) * 4
    if len(pads) != 4 or not all(is_int(p) and p >= 0 for p in pads):
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
