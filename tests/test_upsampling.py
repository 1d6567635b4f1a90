"""cnnkit.upsampling: transposed convolution by zero insertion, dilated filters, the bilinear kernel,
each checked against TensorFlow/Keras and PyTorch."""

import itertools

import numpy as np
import pytest

from cnnkit import upsampling
from cnnkit.receptive import receptive_field_size

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
F = torch.nn.functional


def keras_transposed(x, w, stride, padding):
    layer = keras.layers.Conv2DTranspose(
        w.shape[2], w.shape[:2], strides=stride, padding=padding, use_bias=False
    )
    layer.build(x.shape)
    layer.set_weights([w])
    return np.asarray(layer(x))


def torch_transposed(x, w, stride, padding, output_padding=0):
    out = F.conv_transpose2d(
        torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
        torch.from_numpy(w.transpose(3, 2, 0, 1).copy()),  # (in, out, height, width)
        stride=stride,
        padding=padding,
        output_padding=output_padding,
    )
    return out.numpy().transpose(0, 2, 3, 1)


def test_insert_zeros_spreads_the_pixels():
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    spread = upsampling.insert_zeros(x, 3)[0, :, :, 0]
    assert spread.shape == (4, 4)
    np.testing.assert_array_equal(spread[::3, ::3], [[0, 1], [2, 3]])
    assert np.count_nonzero(spread) == 3  # the zero pixel stays zero, the rest is padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride"), list(itertools.product([3, 4], [1, 2, 3, 4, 5], [1, 2, 3]))
)
def test_transposed_convolution_equals_both_frameworks(size, kernel, stride):
    rng = np.random.default_rng(size * 100 + kernel * 10 + stride)
    x = rng.standard_normal((2, size, size + 1, 3)).astype(np.float32)
    w = rng.standard_normal((kernel, kernel, 4, 3)).astype(np.float32)  # (height, width, out, in)
    for padding in ("valid", "same"):
        expected = keras_transposed(x, w, stride, padding)
        np.testing.assert_allclose(
            upsampling.conv_transpose2d(x, w, stride, padding), expected, atol=1e-4
        )
        assert expected.shape[1] == upsampling.transposed_output_size(size, kernel, stride, padding)
    for padding, output_padding in itertools.product(range(kernel), range(stride)):
        if (size - 1) * stride - 2 * padding + kernel + output_padding < 1:
            continue  # PyTorch refuses an empty output
        expected = torch_transposed(x, w, stride, padding, output_padding)
        got = upsampling.conv_transpose2d(x, w, stride, padding, output_padding)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert got.shape[1] == upsampling.transposed_output_size(
            size, kernel, stride, padding, output_padding
        )


def test_transposed_convolution_is_the_transpose_of_the_strided_convolution():
    """<conv(x), y> = <x, conv_transpose(y)>: the two linear maps are each other's transpose."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 3, 2, 5))  # a Conv2D kernel: (height, width, in=2, out=5)
    x = rng.standard_normal((1, 9, 9, 2))
    conv = tf.nn.conv2d(x, w, strides=2, padding="VALID").numpy()  # (1, 4, 4, 5)
    y = rng.standard_normal(conv.shape)
    back = upsampling.conv_transpose2d(y, w, 2, "valid")  # (1, 9, 9, 2)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(conv * y), np.sum(x * back), rtol=1e-10)


def test_bad_arguments_are_named():
    x, w = np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 4, 2))
    with pytest.raises(ValueError, match="channels"):
        upsampling.conv_transpose2d(x, np.zeros((3, 3, 4, 5)))
    with pytest.raises(ValueError, match="output_padding"):
        upsampling.conv_transpose2d(x, w, 2, 1, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        upsampling.conv_transpose2d(x, w, 2, "same", output_padding=1)
    with pytest.raises(ValueError, match="padding"):
        upsampling.conv_transpose2d(x, w, 2, "full")
    with pytest.raises(ValueError, match="inputs"):
        upsampling.conv_transpose2d(np.zeros((3, 3, 2)), w)


def test_dilating_the_chapter_filter():
    dilated = upsampling.dilate_filter(np.array([[1, 2, 3]]), 4)
    np.testing.assert_array_equal(dilated, [[1, 0, 0, 0, 2, 0, 0, 0, 3]])
    assert upsampling.dilate_filter(np.ones((3, 3, 2, 5)), 2).shape == (5, 5, 2, 5)
    np.testing.assert_array_equal(
        upsampling.dilate_filter(np.ones((2, 2)), (1, 3)), [[1, 0, 0, 1]] * 2
    )
    with pytest.raises(ValueError, match="rate"):
        upsampling.dilate_filter(np.ones((3, 3)), 0)


def test_dilated_convolution_equals_the_dilated_filter_in_both_frameworks():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 20, 17, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    layer = keras.layers.Conv2D(4, (3, 2), dilation_rate=(2, 3), use_bias=False)
    layer.build(x.shape)
    layer.set_weights([w])
    from_keras = np.asarray(layer(x))
    from_torch = F.conv2d(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                          torch.from_numpy(w.transpose(3, 2, 0, 1).copy()), dilation=(2, 3))  # fmt: skip
    plain = upsampling.correlate(x, upsampling.dilate_filter(w, (2, 3)))
    np.testing.assert_allclose(plain, from_keras, atol=1e-4)
    np.testing.assert_allclose(plain, from_torch.numpy().transpose(0, 2, 3, 1), atol=1e-4)
    assert (
        receptive_field_size([(3, 1, 2)]) == upsampling.dilate_filter(np.ones((3, 1)), 2).shape[0]
    )


def test_bilinear_kernel():
    np.testing.assert_allclose(upsampling.bilinear_kernel(2)[0], [0.0625, 0.1875, 0.1875, 0.0625])
    assert upsampling.bilinear_kernel(3).shape == (5, 5)
    for factor in (2, 3, 4, 8):  # every output pixel gets weights summing to 1 (inside the image)
        kernel = upsampling.bilinear_kernel(factor)
        for phase in range(factor):
            assert kernel[phase::factor, phase::factor].sum() == pytest.approx(1.0)
    weights = upsampling.bilinear_weights(4, 3)
    assert weights.shape == (8, 8, 3, 3) and weights[:, :, 0, 1].max() == 0


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_transposed_convolution_equals_resizing_inside_the_image(factor):
    rng = np.random.default_rng(factor)
    x = rng.random((1, 6, 5, 2)).astype(np.float32)
    weights = upsampling.bilinear_weights(factor, 2)
    upsampled = upsampling.conv_transpose2d(x, weights, factor, factor // 2)  # PyTorch's padding
    resized_tf = tf.image.resize(x, (6 * factor, 5 * factor), method="bilinear").numpy()
    resized_torch = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), scale_factor=factor,
                                  mode="bilinear", align_corners=False).numpy().transpose(0, 2, 3, 1)  # fmt: skip
    np.testing.assert_allclose(resized_tf, resized_torch, atol=1e-5)
    inner = (slice(None), slice(factor, -factor), slice(factor, -factor))  # away from the border
    np.testing.assert_allclose(upsampled[inner], resized_tf[inner], atol=1e-5)
    # at the border the transposed convolution sees zeros where resizing repeats the edge
    assert not np.allclose(upsampled, resized_tf, atol=1e-3)
    # Repeat the border pixels once, then cut them off: equal everywhere
    edged = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge")
    full = upsampling.conv_transpose2d(edged, weights, factor, factor // 2)
    np.testing.assert_allclose(full[:, factor:-factor, factor:-factor], resized_tf, atol=1e-5)
