"""Figures the chapters share. Every function draws one new figure and returns it (or draws on the
axes it is given); call ``plt.show()`` in the notebook.

- ``cnnkit.plot.images``: image grids, feature maps and convolution filters;
- ``cnnkit.plot.curves``: receptive-field growth, learning curves;
- ``cnnkit.plot.diagrams``: grids of cells with windows and links (chapter 2's drawings);
- ``cnnkit.plot.architecture``: blocks and networks drawn from the PyTorch modules (chapter 4).

Boxes and masks drawn over images (chapters 6 and 7) will go in ``cnnkit.plot.overlays``.
"""

from cnnkit.plot.architecture import draw_block, draw_network
from cnnkit.plot.curves import learning_curves, plot_receptive_field_growth
from cnnkit.plot.diagrams import Grid, draw_grid, draw_link, draw_window
from cnnkit.plot.images import show_feature_maps, show_filters, show_images
from cnnkit.plot.masks import class_legend, colorize, overlay_mask, show_masks  # chapter 7

__all__ = [
    "Grid",
    "draw_block",
    "draw_network",
    "draw_grid",
    "draw_link",
    "draw_window",
    "learning_curves",
    "plot_receptive_field_growth",
    "show_feature_maps",
    "show_filters",
    "show_images",
]
__all__ += ["class_legend", "colorize", "overlay_mask", "show_masks"]  # chapter 7
