"""cnnkit.plot: panel counts, titles, layouts, diagrams, curves and the errors for bad input (Agg)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from cnnkit.plot import (
    Grid,
    draw_grid,
    draw_window,
    learning_curves,
    plot_receptive_field_growth,
    show_feature_maps,
    show_filters,
    show_images,
)
from cnnkit.receptive import receptive_fields

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def titles_of(fig):
    return [ax.get_title() for ax in fig.axes]


# --- show_images --------------------------------------------------------------------------------
def test_show_images_draws_one_titled_panel_per_image_and_drops_spare_axes():
    images = [
        RNG.random((8, 10, 3)),
        RNG.random((8, 10)),
        RNG.integers(0, 256, (8, 10, 1), dtype=np.uint8),
    ]
    fig = show_images(images, titles=["rgb", "gray", "uint8"], ncols=2, title="three")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert titles_of(fig) == ["rgb", "gray", "uint8"]  # a 2x2 grid with the fourth axis removed
    assert fig.get_suptitle() == "three"
    assert fig.axes[1].images[0].get_cmap().name == "gray"
    assert fig.axes[2].images[0].get_array().shape == (8, 10)  # (h, w, 1) is shown as (h, w)


def test_show_images_accepts_a_batch_array_and_numbers_the_panels():
    fig = show_images(RNG.random((5, 6, 6, 3)), ncols=3)
    assert titles_of(fig) == [f"image {i}" for i in range(5)]
    gray = show_images(RNG.random((2, 6, 7)), cmap="magma")
    assert len(gray.axes) == 2 and gray.axes[0].images[0].get_cmap().name == "magma"


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (np.zeros((6, 6, 3)), {}, "batch or a list"),  # one image, not a batch
        ([np.zeros((3, 6, 6))], {}, r"images\[0\] has 6 channels.*channels first"),
        ([np.zeros((2, 2, 2, 3))], {}, r"images\[0\] must be \(height, width"),
        ([np.full((4, 4, 3), 2.0)], {}, "outside \\[0, 1\\]"),
        ([np.zeros((4, 4))] * 2, {"titles": ["only one"]}, "titles has 1 entries for 2"),
        ([np.zeros((4, 4))], {"ncols": 0}, "ncols must be a positive int"),
        ([], {}, "zero images"),
    ],
)
def test_show_images_rejects_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_images(images, **kwargs)


# --- show_feature_maps --------------------------------------------------------------------------
def test_feature_maps_in_both_layouts_show_the_same_channels():
    maps_hwc = RNG.random((9, 11, 5))  # (height, width, channels)
    fig_tf = show_feature_maps(maps_hwc, layout="hwc", ncols=2)
    fig_torch = show_feature_maps(maps_hwc.transpose(2, 0, 1), layout="chw", ncols=2)
    assert titles_of(fig_tf) == titles_of(fig_torch) == [f"map {i}" for i in range(5)]
    for ax_tf, ax_torch in zip(fig_tf.axes, fig_torch.axes, strict=True):
        np.testing.assert_array_equal(ax_tf.images[0].get_array(), ax_torch.images[0].get_array())
    np.testing.assert_allclose(fig_tf.axes[3].images[0].get_array(), maps_hwc[..., 3], rtol=1e-6)


def test_feature_maps_custom_titles_and_suptitle():
    fig = show_feature_maps(RNG.random((4, 4, 2)), titles=["a", "b"], title="maps")
    assert titles_of(fig) == ["a", "b"] and fig.get_suptitle() == "maps"


@pytest.mark.parametrize(
    ("maps", "kwargs", "match"),
    [
        (np.zeros((4, 4, 2)), {"layout": "nhwc"}, "layout must be one of"),
        (np.zeros((1, 4, 4, 2)), {}, "maps must be 3-D.*maps\\[0\\]"),
        (np.zeros((4, 4)), {"layout": "chw"}, "channels, height, width"),
        (np.zeros((4, 4, 2)), {"titles": ["x"]}, "titles has 1 entries"),
    ],
)
def test_feature_maps_reject_bad_input(maps, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_feature_maps(maps, **kwargs)


# --- show_filters -------------------------------------------------------------------------------
def test_filters_hwio_and_oihw_show_the_same_kernels():
    hwio = RNG.normal(size=(5, 5, 1, 6)).astype(np.float32)  # (height, width, in, out)
    fig_tf = show_filters(hwio, layout="hwio", ncols=3)
    fig_torch = show_filters(hwio.transpose(3, 2, 0, 1), layout="oihw", ncols=3)
    assert titles_of(fig_tf) == titles_of(fig_torch) == [f"filter {i}" for i in range(6)]
    for out in range(6):
        shown = fig_tf.axes[out].images[0]
        np.testing.assert_array_equal(shown.get_array(), hwio[:, :, 0, out])
        np.testing.assert_array_equal(shown.get_array(), fig_torch.axes[out].images[0].get_array())
    low, high = fig_tf.axes[0].images[0].get_clim()
    assert low == -high == -np.abs(hwio).max()  # centred on zero


def test_filters_rgb_are_scaled_to_unit_range_and_channel_picks_one_input():
    kernels = RNG.normal(size=(4, 3, 3, 3))  # (out, in, height, width)
    fig = show_filters(kernels, layout="oihw", titles=list("abcd"))
    shown = fig.axes[0].images[0].get_array()
    assert titles_of(fig) == list("abcd") and shown.shape == (3, 3, 3)
    assert shown.min() == 0 and shown.max() == 1
    picked = show_filters(RNG.normal(size=(3, 3, 16, 2)), layout="hwio", channel=5)
    assert len(picked.axes) == 2 and picked.axes[0].images[0].get_array().shape == (3, 3)


@pytest.mark.parametrize(
    ("kernels", "kwargs", "match"),
    [
        (np.zeros((3, 3, 1, 2)), {"layout": "ohwi"}, "layout must be one of"),
        (np.zeros((3, 3, 2)), {}, "kernels must be 4-D"),
        # a PyTorch kernel (8 out, 1 in, 5, 5) passed as "hwio" reads as 5 input channels
        (np.zeros((8, 1, 5, 5)), {"layout": "hwio"}, "5 input channels.*check the layout"),
        (np.zeros((3, 3, 4, 2)), {"channel": 4}, r"channel must be an int in \[0, 4\)"),
    ],
)
def test_filters_reject_bad_input(kernels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show_filters(kernels, **kwargs)


# --- plot_receptive_field_growth ----------------------------------------------------------------
def test_receptive_field_growth_plots_fields_and_jumps_per_layer():
    records = receptive_fields([{"name": "conv1", "kernel_size": 3, "stride": 1}, (2, 2), (3, 1)])
    fig = plot_receptive_field_growth(records)
    (ax,) = fig.axes
    assert ax.get_title() == "Receptive field growth"
    fields, jumps = (line.get_ydata() for line in ax.get_lines())
    assert list(fields) == [1, 3, 4, 8] and list(jumps) == [1, 1, 2, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", "conv1", "layer 2", "layer 3"]


def test_receptive_field_growth_rejects_no_records():
    with pytest.raises(ValueError, match="records is empty"):
        plot_receptive_field_growth([])


# --- diagrams -----------------------------------------------------------------------------------
def test_draw_grid_places_cells_and_windows():
    fig, ax = plt.subplots()
    grid = draw_grid(ax, 5, 7, padding=1, values=np.arange(35).reshape(5, 7), cmap="Blues")
    assert isinstance(grid, Grid)
    assert grid.corner(-1, -1) == (0.0, 0.0)  # the padded frame starts at the origin
    assert grid.center(0, 0) == (1.5, 1.5)
    assert len(ax.patches) == 7 * 9  # 35 cells and 28 padding cells
    assert len(ax.texts) == 35
    assert ax.yaxis_inverted()
    draw_window(ax, grid, -1, -1, 3, 3)
    assert len(ax.patches) == 7 * 9 + 2
    with pytest.raises(ValueError, match="values must have shape"):
        draw_grid(ax, 2, 2, values=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="top, bottom, left, right"):
        draw_grid(ax, 2, 2, padding=(1, 2))
    with pytest.raises(ValueError, match="top, bottom, left, right"):
        draw_grid(ax, 2, 2, padding=True)
    assert draw_grid(ax, np.int64(2), 2, padding=np.array([0, 1, 0, 1])).padding == (0, 1, 0, 1)


# --- learning curves ----------------------------------------------------------------------------
def test_learning_curves_draw_torch_and_keras_histories():
    import keras

    fig = learning_curves(
        {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.7]}, title="t"
    )
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and len(loss_ax.lines) == 2
    assert acc_ax.get_ylabel() == "accuracy" and len(acc_ax.lines) == 1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_history = model.fit(np.zeros((8, 2)), np.zeros(8), epochs=2, verbose=0)
    assert len(learning_curves(keras_history).axes) == 2
    with pytest.raises(ValueError, match="history must be a Keras History or a dict"):
        learning_curves([1, 2])
