"""Upsampling in NumPy: transposed convolution, dilated (à-trous) filters and the bilinear kernel.

Two ideas share one trick, inserting zeros:

- between the *pixels of the input*: a transposed convolution with stride ``s`` is ``s - 1`` zeros
  inserted between neighbouring pixels, a border of ``k - 1`` zeros, and an ordinary stride-1
  convolution with the kernel turned by 180°. The output is larger than the input;
- between the *taps of a filter*: a filter dilated at rate ``r`` has ``r - 1`` zeros between its
  taps. It covers a wider window with the same number of weights.

Layouts are TensorFlow's: images ``(batch, height, width, channels)``; a transposed convolution's
kernel is Keras's ``Conv2DTranspose`` kernel ``(height, width, out_channels, in_channels)`` (the
kernel of the convolution it transposes). ``padding`` is ``"valid"``, ``"same"`` (Keras's meaning)
or an int ``p`` (PyTorch's meaning: ``p`` rows and columns cropped from each side of the output).
"""

from __future__ import annotations

import numpy as np

from cnnkit._checks import array_4d, is_int, non_negative_int, pair, positive_int


def insert_zeros(inputs, stride) -> np.ndarray:
    """``stride - 1`` zero rows and columns between neighbouring pixels of ``(batch, h, w, c)``.

    The result has ``(h - 1) * s_h + 1`` rows and ``(w - 1) * s_w + 1`` columns.
    """
    x = array_4d(inputs, "inputs", "batch, height, width, channels")
    s_h, s_w = pair(stride, "stride")
    batch, height, width, channels = x.shape
    spread = np.zeros((batch, (height - 1) * s_h + 1, (width - 1) * s_w + 1, channels), x.dtype)
    spread[:, ::s_h, ::s_w] = x
    return spread


def correlate(inputs, kernels) -> np.ndarray:
    """A stride-1 "valid" convolution (no kernel flip), ``kernels`` as ``(h, w, in, out)``."""
    x = array_4d(inputs, "inputs", "batch, height, width, channels")
    w = array_4d(kernels, "kernels", "height, width, in_channels, out_channels")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"inputs have {x.shape[3]} channels but the kernels expect {w.shape[2]}")
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[:2], axis=(1, 2))
    # windows: (batch, out_h, out_w, in, k_h, k_w); sum over in, k_h, k_w
    return np.tensordot(windows, w, axes=([4, 5, 3], [0, 1, 2]))


def _crops(size: int, kernel: int, stride: int, padding, output_padding: int) -> tuple[int, int]:
    """Rows ``(before, after)`` to cut from the full result of ``(size - 1) * s + k`` rows.

    A negative number means zeros to add instead: Keras's "valid" and "same" when the kernel is
    smaller than the stride, PyTorch's ``output_padding`` beyond its ``padding``.
    """
    if padding == "valid":  # Keras keeps (size - 1) * s + max(k, s) rows
        return 0, min(kernel - stride, 0)
    if padding == "same":  # Keras keeps size * s rows, cutting the odd row at the end
        before = max(kernel - stride, 0) // 2
        return before, kernel - stride - before
    return padding, padding - output_padding


def conv_transpose2d(inputs, kernels, stride=1, padding="valid", output_padding=0) -> np.ndarray:
    """A transposed convolution as zero insertion + border + convolution with the turned kernel.

    ``inputs`` ``(batch, h, w, in)``; ``kernels`` ``(k_h, k_w, out, in)`` as Keras stores a
    ``Conv2DTranspose`` kernel. Equal to ``keras.layers.Conv2DTranspose`` with ``padding`` "valid"
    or "same" (and its default ``output_padding=None``), and to ``torch.nn.ConvTranspose2d`` with an
    int ``padding`` and ``output_padding``: ``(h - 1) * s - 2 * padding + k + output_padding`` rows.
    """
    x = np.asarray(array_4d(inputs, "inputs", "batch, height, width, in_channels"), np.float64)
    w = np.asarray(
        array_4d(kernels, "kernels", "height, width, out_channels, in_channels"), np.float64
    )
    if x.shape[3] != w.shape[3]:
        raise ValueError(f"inputs have {x.shape[3]} channels but the kernels expect {w.shape[3]}")
    strides = pair(stride, "stride")
    extra = pair(output_padding, "output_padding") if output_padding else (0, 0)
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        padding = padding.lower()
    elif is_int(padding):
        padding = non_negative_int(padding, "padding")
    else:
        raise ValueError(f"padding must be 'valid', 'same' or an int >= 0, got {padding!r}")
    if isinstance(padding, str) and extra != (0, 0):
        raise ValueError(
            "output_padding goes with an int padding (PyTorch's meaning), not 'valid'/'same'"
        )
    for s, op in zip(strides, extra, strict=True):
        if op >= s:
            raise ValueError(f"output_padding must be smaller than the stride, got {op} >= {s}")
    k_h, k_w = w.shape[:2]
    spread = insert_zeros(x, strides)
    bordered = np.pad(spread, [(0, 0), (k_h - 1, k_h - 1), (k_w - 1, k_w - 1), (0, 0)])
    turned = w[::-1, ::-1].transpose(0, 1, 3, 2)  # (k_h, k_w, in, out), turned by 180°
    full = correlate(bordered, turned)  # (batch, (h - 1) * s_h + k_h, (w - 1) * s_w + k_w, out)
    for axis, size, kernel, s, op in ((1, x.shape[1], k_h, strides[0], extra[0]),
                                      (2, x.shape[2], k_w, strides[1], extra[1])):  # fmt: skip
        before, after = _crops(size, kernel, s, padding, op)
        if before < 0 or after < 0:
            widths = [(0, 0)] * 4
            widths[axis] = (max(-before, 0), max(-after, 0))
            full = np.pad(full, widths)
            before, after = max(before, 0), max(after, 0)
        full = np.take(full, np.arange(before, full.shape[axis] - after), axis=axis)
    return full


def transposed_output_size(input_size, kernel_size, stride=1, padding=0, output_padding=0) -> int:
    """Outputs along one axis of a transposed convolution: Keras's "valid"/"same", or PyTorch's."""
    n, k, s = (positive_int(v, name) for v, name in
               ((input_size, "input_size"), (kernel_size, "kernel_size"), (stride, "stride")))  # fmt: skip
    if padding == "same":
        return n * s
    if padding == "valid":
        return (n - 1) * s + max(k, s)
    p, op = non_negative_int(padding, "padding"), non_negative_int(output_padding, "output_padding")
    return (n - 1) * s - 2 * p + k + op


def dilate_filter(kernel, rate) -> np.ndarray:
    """The filter with ``rate - 1`` zeros between its taps along height and width (à trous).

    ``kernel``: ``(height, width)`` or ``(height, width, ...)`` (a Keras kernel); a
    ``k``-tap axis becomes ``rate * (k - 1) + 1`` taps. ``[[1, 2, 3]]`` at rate 4 becomes
    ``[[1, 0, 0, 0, 2, 0, 0, 0, 3]]``.
    """
    w = np.asarray(kernel)
    if w.ndim < 2:
        raise ValueError(
            f"kernel must have at least 2 axes (height, width, ...), got shape {w.shape}"
        )
    r_h, r_w = pair(rate, "rate")
    holes = np.zeros(
        ((w.shape[0] - 1) * r_h + 1, (w.shape[1] - 1) * r_w + 1, *w.shape[2:]), w.dtype
    )
    holes[::r_h, ::r_w] = w
    return holes


def bilinear_kernel(factor) -> np.ndarray:
    """The 2-D kernel that makes a transposed convolution with stride ``factor`` interpolate.

    Size ``2 * factor - factor % 2``; each weight is the product of ``1 - |distance| / factor``
    along both axes, measured from the kernel's centre (FCN's initialization).
    """
    factor = positive_int(factor, "factor")
    size = 2 * factor - factor % 2
    centre = factor - 1 if size % 2 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - centre) / factor
    return np.outer(ramp, ramp)


def bilinear_weights(factor, channels) -> np.ndarray:
    """``bilinear_kernel(factor)`` for each channel on its own: ``(k, k, channels, channels)``.

    The layout of Keras's ``Conv2DTranspose`` kernel (out, in on the last axes); channel ``i`` only
    feeds output ``i``. ``cnnkit.conv.kernel_to_torch_layout`` would swap in and out: for this
    diagonal kernel both layouts hold the same numbers.
    """
    channels = positive_int(channels, "channels")
    kernel = bilinear_kernel(factor)
    weights = np.zeros((*kernel.shape, channels, channels), np.float32)
    weights[:, :, np.arange(channels), np.arange(channels)] = kernel[..., None]
    return weights
