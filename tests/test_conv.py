"""cnnkit.conv: output sizes and SAME padding checked against TensorFlow and PyTorch, layouts, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.conv import (
    conv_output_size,
    copy_conv2d_weights,
    kernel_span,
    kernel_to_tf_layout,
    kernel_to_torch_layout,
    pad_same_torch,
    same_padding,
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((13, 6, 5, "same"), 3),  # the worked example of the chapter
        ((13, 6, 5, "valid"), 2),
        ((13, 6, 5, "SAME"), 3),  # TensorFlow spells it in capitals
        ((5, 3, 2, 1), 3),  # 5 rows, 3x3 fields, stride 2, one zero each side
        ((7, 3, 2, 1), 4),
        ((427, 2, 2, "valid"), 213),  # 2x2 max pooling drops the odd row
        ((10, 3, 1, "valid", 2), 6),  # a dilated 3-tap kernel spans 5
        ((1, 1, 1, "same"), 1),
    ],
)
def test_known_output_sizes(args, expected):
    assert conv_output_size(*args) == expected


def test_output_sizes_match_tensorflow_and_pytorch():
    import tensorflow as tf
    import torch
    import torch.nn.functional as F

    for size in range(1, 15):
        x_tf = tf.zeros((1, 1, size, 1))
        x_torch = torch.zeros(1, 1, 1, size)
        for kernel in range(1, size + 1):
            for stride in range(1, 5):
                for padding in ("SAME", "VALID"):
                    out = tf.nn.conv2d(x_tf, tf.zeros((1, kernel, 1, 1)), stride, padding)
                    assert conv_output_size(size, kernel, stride, padding) == out.shape[2]
                for pad in range(0, 3):
                    if size + 2 * pad < kernel:
                        continue
                    out = F.conv2d(
                        x_torch, torch.zeros(1, 1, 1, kernel), stride=stride, padding=(0, pad)
                    )
                    assert conv_output_size(size, kernel, stride, pad) == out.shape[3]


def test_numpy_integers_are_sizes_too_and_bools_are_not():
    sizes = np.array([13, 6, 5])  # e.g. read from an array of layer settings
    assert conv_output_size(*sizes, "same") == 3 and same_padding(*sizes) == (1, 2)
    assert kernel_span(np.int32(3), np.int64(2)) == 5
    with pytest.raises(ValueError, match="kernel_size must be a positive int, got True"):
        conv_output_size(10, True)
    with pytest.raises(ValueError, match="padding must be 'same', 'valid' or an int >= 0"):
        conv_output_size(10, 3, 1, False)


def test_same_padding_puts_the_odd_zero_after():
    assert same_padding(13, 6, 5) == (1, 2)
    assert same_padding(10, 4, 1) == (1, 2)
    assert same_padding(8, 3, 2) == (0, 1)
    assert same_padding(7, 3, 2) == (1, 1)
    assert same_padding(5, 1, 3) == (0, 0)
    assert same_padding(4, 7, 4) == (1, 2)  # a kernel larger than the input: 3 zeros


def test_pad_same_torch_reproduces_tensorflow_same_for_any_stride():
    import tensorflow as tf
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    for height, width, kernel, stride in [
        (13, 13, (6, 6), 5),
        (10, 9, (4, 3), (3, 2)),
        (8, 7, (3, 3), 2),
        (6, 11, (2, 5), (1, 3)),
        (5, 5, (7, 7), 1),
    ]:
        x = rng.standard_normal((2, height, width, 3))
        w = rng.standard_normal((*kernel, 3, 4))
        expected = tf.nn.conv2d(x, w, stride, "SAME").numpy()
        padded = pad_same_torch(torch.from_numpy(x.transpose(0, 3, 1, 2)), kernel, stride)
        got = F.conv2d(padded, torch.from_numpy(kernel_to_torch_layout(w)), stride=stride)
        np.testing.assert_allclose(got.numpy().transpose(0, 2, 3, 1), expected, atol=1e-10)


def test_kernel_layouts_round_trip():
    kernel = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (height, width, in, out)
    torch_kernel = kernel_to_torch_layout(kernel)
    assert torch_kernel.shape == (5, 4, 2, 3)
    assert torch_kernel[4, 3, 1, 2] == kernel[1, 2, 3, 4]
    np.testing.assert_array_equal(kernel_to_tf_layout(torch_kernel), kernel)


def test_copy_conv2d_weights_gives_the_same_layer():
    import keras
    import torch
    from torch import nn

    keras_conv = keras.layers.Conv2D(4, (3, 2), strides=1, padding="valid")
    x = np.random.default_rng(1).standard_normal((2, 7, 6, 3)).astype(np.float32)
    keras_conv(x)  # builds the layer
    keras_conv.bias.assign(np.arange(4, dtype=np.float32))
    torch_conv = nn.Conv2d(3, 4, (3, 2))
    copy_conv2d_weights(keras_conv, torch_conv)
    with torch.no_grad():
        got = torch_conv(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, keras_conv(x).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="shapes differ"):
        copy_conv2d_weights(keras_conv, nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match="bias"):
        copy_conv2d_weights(keras_conv, nn.Conv2d(3, 4, (3, 2), bias=False))
    with pytest.raises(ValueError, match="not built"):
        copy_conv2d_weights(keras.layers.Conv2D(4, 3), torch_conv)


def test_bad_input_gives_clear_errors():
    import torch

    with pytest.raises(ValueError, match="unknown padding 'full'"):
        conv_output_size(10, 3, 1, "full")
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(10, 3, 1, -1)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(10, 3, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        conv_output_size(10, 2.5)
    with pytest.raises(ValueError, match="kernel spans 5"):
        conv_output_size(4, 5, 1, "valid")
    with pytest.raises(ValueError, match="batch, channels, height, width"):
        pad_same_torch(torch.zeros(3, 8, 8), 3, 2)
    with pytest.raises(ValueError, match="pair"):
        pad_same_torch(torch.zeros(1, 3, 8, 8), (3, 3, 3), 2)
    with pytest.raises(ValueError, match="height, width, in, out"):
        kernel_to_torch_layout(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="out, in, height, width"):
        kernel_to_tf_layout(np.zeros((3, 3)))
