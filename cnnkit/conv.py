"""Convolution geometry shared by the chapters: output sizes, TF's "SAME" padding, kernel layouts.

Sizes are along one axis (height or width). ``padding`` is ``"same"`` or ``"valid"`` (any case, as
TensorFlow writes ``"SAME"`` and Keras ``"same"``) or a number of zeros added on *each* side, as
PyTorch's ``padding=1`` means. With "same", TensorFlow pads ``ceil(n / s)`` outputs' worth of zeros,
as evenly as it can, the odd zero at the bottom or right; ``same_padding`` says how many on each side
and ``pad_same_torch`` adds them to a PyTorch tensor, since PyTorch's own ``padding="same"`` refuses
strides above 1. (The grids that chapter 2 draws are in ``cnnkit.plot.diagrams``.)
"""

from __future__ import annotations

import math

import numpy as np

from cnnkit._checks import array_4d, is_int, pair, positive_int

PADDINGS = ("same", "valid")


def _padding(padding) -> str | int:
    """Normalize ``padding`` to "same", "valid" or a non-negative int."""
    if isinstance(padding, str):
        if padding.lower() not in PADDINGS:
            raise ValueError(
                f"padding must be 'same', 'valid' or an int, got unknown padding {padding!r}"
            )
        return padding.lower()
    if not is_int(padding) or padding < 0:
        raise ValueError(f"padding must be 'same', 'valid' or an int >= 0, got {padding!r}")
    return int(padding)


def kernel_span(kernel_size, dilation=1) -> int:
    """Input pixels one window covers along an axis, holes included: ``dilation * (k - 1) + 1``."""
    kernel_size = positive_int(kernel_size, "kernel_size")
    return positive_int(dilation, "dilation") * (kernel_size - 1) + 1


def conv_output_size(input_size, kernel_size, stride=1, padding="valid", dilation=1) -> int:
    """Number of outputs along one axis of a convolution or pooling layer.

    "same": ``ceil(input_size / stride)``; "valid": ``(input_size - span) // stride + 1`` where
    ``span = dilation * (kernel_size - 1) + 1``; an int ``p``: "valid" on an input padded by ``p``
    zeros on each side.
    """
    size, span = positive_int(input_size, "input_size"), kernel_span(kernel_size, dilation)
    stride = positive_int(stride, "stride")
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
    outputs = conv_output_size(input_size, kernel_size, stride, "same", dilation)
    total = max((outputs - 1) * stride + kernel_span(kernel_size, dilation) - input_size, 0)
    return total // 2, total - total // 2  # the odd zero goes after: bottom or right


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
    (kh, kw), (sh, sw) = pair(kernel_size, "kernel_size"), pair(stride, "stride")
    dh, dw = pair(dilation, "dilation")
    top, bottom = same_padding(x.shape[2], kh, sh, dh)
    left, right = same_padding(x.shape[3], kw, sw, dw)
    return F.pad(x, (left, right, top, bottom))  # F.pad lists the last axis first


def kernel_to_torch_layout(kernel) -> np.ndarray:
    """A TF/Keras kernel ``(height, width, in, out)`` → PyTorch's ``(out, in, height, width)``."""
    kernel = array_4d(kernel, "kernel", "height, width, in, out")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def kernel_to_tf_layout(kernel) -> np.ndarray:
    """A PyTorch kernel ``(out, in, height, width)`` → TF/Keras's ``(height, width, in, out)``."""
    kernel = array_4d(kernel, "kernel", "out, in, height, width")
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
