"""cnnkit.plot.overlays: frames on the pixel edges of the boxes, captions, masks, clear errors."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from cnnkit.plot import overlays as plot_overlays


def test_boxes_frame_the_edges_of_their_pixels_with_captions():
    fig, ax = plt.subplots()
    image = np.zeros((20, 30, 3))
    plot_overlays.draw_boxes(ax, image, [[3, 4, 7, 10]], [2], [0.875], class_names="abc")
    (frame,) = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert frame.get_xy() == (2.5, 3.5) and frame.get_width() == 4 and frame.get_height() == 6
    assert [t.get_text() for t in ax.texts] == ["c 0.88"]
    plt.close(fig)


def test_show_detections_draws_truths_dashed_and_detections_solid():
    images = np.zeros((3, 16, 16, 3))
    truths = [(np.array([[1, 1, 5, 5]]), np.array([0]))] * 3
    found = [(np.array([[1, 1, 5, 6], [8, 8, 12, 12]]), np.array([0.9, 0.3]), np.array([0, 4]))] * 3
    fig = plot_overlays.show_detections(images, truths, found, ncols=2)
    assert len(fig.axes) == 3
    styles = [p.get_linestyle() for p in fig.axes[0].patches]
    assert styles == ["--", "-", "-"]
    plt.close(fig)


def test_masks_leave_the_background_clear_and_bad_inputs_are_named():
    fig, ax = plt.subplots()
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 3
    plot_overlays.draw_mask(ax, np.ones((8, 8, 3)), mask, num_classes=11)
    tint = ax.images[-1].get_array()
    assert tint.mask[0, 0] and not tint.mask[3, 3]
    with pytest.raises(ValueError, match=r"mask \(8, 8\) and image \(9, 8\) differ in size"):
        plot_overlays.draw_mask(ax, np.ones((9, 8, 3)), mask)
    with pytest.raises(ValueError, match="labels has 2 entries for 1 boxes"):
        plot_overlays.draw_boxes(ax, None, [[0, 0, 1, 1]], [1, 2])
    plt.close(fig)
