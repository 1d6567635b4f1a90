"""Figures of images: image grids, feature maps and convolution filters.

Every function draws one new figure and returns it (call ``plt.show()`` in the notebook). Layouts
are explicit: TensorFlow's feature maps are ``(height, width, channels)`` ("hwc") and its kernels
``(height, width, in, out)`` ("hwio"); PyTorch's are "chw" and ``(out, in, height, width)`` ("oihw").
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from cnnkit._checks import int_in_range, one_of, positive_int

MAP_LAYOUTS = ("hwc", "chw")
FILTER_LAYOUTS = ("hwio", "oihw")


def _grid(count: int, ncols: int, figsize, panel: float = 2.5):
    """A figure with ``count`` axes in rows of ``ncols`` (no spare axes left over)."""
    ncols = positive_int(ncols, "ncols")
    if count == 0:
        raise ValueError("nothing to show: got zero images")
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    figsize = figsize or (panel * ncols, panel * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    for ax in axes.flat[count:]:
        fig.delaxes(ax)
    for ax in axes.flat[:count]:
        ax.set_axis_off()
    return fig, list(axes.flat[:count])


def _titles(titles, count: int, default: str) -> list[str]:
    if titles is None:
        return [default.format(i) for i in range(count)]
    titles = list(titles)
    if len(titles) != count:
        raise ValueError(f"titles has {len(titles)} entries for {count} panels")
    return [str(title) for title in titles]


def _as_image(image, index: int) -> np.ndarray:
    """Check one image: (h, w) or (h, w, 1|3|4), uint8 or floats in [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"images[{index}] must be (height, width[, channels]), got {image.shape}")
    if image.ndim == 3 and image.shape[-1] not in (3, 4):
        hint = (
            " (channels first? transpose it to height, width, channels)"
            if image.shape[0] in (1, 3, 4)
            else ""
        )
        raise ValueError(
            f"images[{index}] has {image.shape[-1]} channels, expected 1, 3 or 4{hint}"
        )
    if image.dtype != np.uint8:
        image = image.astype(np.float32)
        if image.ndim == 3 and (image.min() < 0 or image.max() > 1):
            raise ValueError(f"images[{index}] is a float RGB image with values outside [0, 1]")
    return image


def show_images(images, titles=None, ncols: int = 4, cmap=None, figsize=None, title=None):
    """Show images in a grid: each ``(height, width)`` or ``(height, width, channels)``.

    ``images`` is a list or an array with a leading batch axis; values are uint8 or floats in
    [0, 1]. Grayscale images use ``cmap`` (default "gray").
    """
    if (
        isinstance(images, np.ndarray)
        and images.ndim in (2, 3)
        and not (images.ndim == 3 and images.shape[-1] > 4)
    ):
        raise ValueError(
            f"images must be a batch or a list of images, got one of shape {images.shape}"
        )
    images = [_as_image(image, i) for i, image in enumerate(images)]
    fig, axes = _grid(len(images), ncols, figsize)
    for ax, image, label in zip(
        axes, images, _titles(titles, len(images), "image {}"), strict=True
    ):
        if image.ndim == 2:
            vmin, vmax = (0, 255) if image.dtype == np.uint8 else (None, None)
            ax.imshow(image, cmap=cmap or "gray", vmin=vmin, vmax=vmax)
        else:
            ax.imshow(image)
        ax.set_title(label)
    if title:
        fig.suptitle(title)
    return fig


def show_feature_maps(
    maps, layout: str = "hwc", titles=None, ncols: int = 4, cmap="viridis", figsize=None, title=None
):
    """Show each channel of one example's feature maps, ``(h, w, c)`` ("hwc") or ``(c, h, w)`` ("chw")."""
    one_of(layout, MAP_LAYOUTS, "layout")
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(
            f"maps must be 3-D ({'height, width, channels' if layout == 'hwc' else 'channels, height, width'}) "
            f"for one example, got shape {maps.shape}; for a batch pass maps[0]"
        )
    channels = maps if layout == "chw" else np.moveaxis(maps, -1, 0)  # (c, h, w)
    fig, axes = _grid(len(channels), ncols, figsize)
    for ax, channel, label in zip(
        axes, channels, _titles(titles, len(channels), "map {}"), strict=True
    ):
        ax.imshow(channel, cmap=cmap)
        ax.set_title(label)
    if title:
        fig.suptitle(title)
    return fig


def show_filters(
    kernels,
    layout: str = "hwio",
    channel: int | None = None,
    titles=None,
    ncols: int = 8,
    figsize=None,
    title=None,
):
    """Show each output filter of a conv kernel, TF ("hwio") or PyTorch ("oihw") layout.

    One input channel is drawn with a diverging colour map centred on zero (red positive, blue
    negative); three input channels are drawn as RGB after scaling to [0, 1]. With another number
    of input channels pick one with ``channel``.
    """
    one_of(layout, FILTER_LAYOUTS, "layout")
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 4:
        raise ValueError(f"kernels must be 4-D ({layout}), got shape {kernels.shape}")
    filters = kernels.transpose(3, 0, 1, 2) if layout == "hwio" else kernels.transpose(0, 2, 3, 1)
    in_channels = filters.shape[-1]  # filters: (out, h, w, in)
    if channel is not None:
        channel = int_in_range(channel, 0, in_channels, "channel")
        filters = filters[..., channel : channel + 1]
    elif in_channels not in (1, 3):
        raise ValueError(
            f"kernels have {in_channels} input channels for layout {layout!r}: pass channel=... to "
            "pick one, or check the layout"
        )
    fig, axes = _grid(len(filters), ncols, figsize, panel=1.6)
    limit = float(np.abs(filters).max()) or 1.0
    for ax, kernel, label in zip(
        axes, filters, _titles(titles, len(filters), "filter {}"), strict=True
    ):
        if kernel.shape[-1] == 1:
            ax.imshow(kernel[..., 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            low, high = kernel.min(), kernel.max()
            ax.imshow((kernel - low) / (high - low) if high > low else np.zeros_like(kernel))
        ax.set_title(label)
    if title:
        fig.suptitle(title)
    return fig
