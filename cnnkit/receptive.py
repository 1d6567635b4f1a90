"""Receptive fields: how many input pixels one neuron of each layer sees, computed and measured.

The calculator follows a neuron through a stack of layers with "valid" padding. For each layer it
keeps the receptive field ``r`` (in input pixels), the jump ``j`` (the distance in input pixels
between two neighbouring neurons of the layer, i.e. the product of the strides so far) and the
centre ``start`` of the first neuron's field (pixel ``i`` has its centre at coordinate ``i``):

    k_eff = dilation * (kernel_size - 1) + 1
    r     = r_prev + (k_eff - 1) * j_prev
    start = start_prev + (k_eff - 1) / 2 * j_prev
    j     = j_prev * stride

The two ``measure_receptive_field_*`` functions find the field of one central output neuron
empirically, from the gradient of that neuron with respect to the input, in PyTorch and in Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit._checks import positive_int, positive_ints
from cnnkit.conv import conv_output_size, kernel_span

_KEYS = ("kernel_size", "stride", "dilation")
_CHW, _HWC = "(channels, height, width), no batch axis", "(height, width, channels), no batch axis"


@dataclass(frozen=True)
class LayerField:
    """The receptive field of the neurons of one layer, in input pixels."""

    index: int
    name: str
    kernel_size: int
    stride: int
    dilation: int
    receptive_field: int
    jump: int
    start: float
    output_size: int | None = None  # only when the input size is known


def _parse_layer(index: int, layer) -> tuple[str, int, int, int]:
    """Turn one layer description into ``(name, kernel_size, stride, dilation)``."""
    where = f"layers[{index}]"
    if isinstance(layer, dict):
        unknown = set(layer) - {*_KEYS, "name"}
        if unknown:
            raise ValueError(
                f"{where} has unknown keys {sorted(unknown)}; expected {_KEYS} + 'name'"
            )
        if "kernel_size" not in layer or "stride" not in layer:
            raise ValueError(f"{where} needs the keys 'kernel_size' and 'stride', got {layer!r}")
        name = str(layer.get("name", f"layer {index + 1}"))
        values = (layer["kernel_size"], layer["stride"], layer.get("dilation", 1))
    elif isinstance(layer, (tuple, list)):
        if len(layer) not in (2, 3):
            raise ValueError(
                f"{where} must be (kernel_size, stride) or (kernel_size, stride, dilation), "
                f"got {len(layer)} values: {layer!r}"
            )
        name = f"layer {index + 1}"
        values = (*layer, 1) if len(layer) == 2 else tuple(layer)
    else:
        raise ValueError(f"{where} must be a tuple or a dict, got {type(layer).__name__}")
    kernel_size, stride, dilation = (
        positive_int(value, f"{where} {key}") for key, value in zip(_KEYS, values, strict=True)
    )
    return name, kernel_size, stride, dilation


def receptive_fields(layers, input_size: int | None = None) -> list[LayerField]:
    """Per-layer receptive fields of a stack of conv/pool layers with "valid" padding.

    ``layers``: a sequence of ``(kernel_size, stride)``, ``(kernel_size, stride, dilation)`` or
    dicts with those keys (and optionally ``name``). With ``input_size`` (the height or width of
    the input) each record also gets the layer's output size.
    """
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a sequence of layer descriptions, got {layers!r}")
    size = None if input_size is None else positive_int(input_size, "input_size")
    field, jump, start = 1, 1, 0.0
    records = []
    for index, layer in enumerate(layers):
        name, kernel_size, stride, dilation = _parse_layer(index, layer)
        span = kernel_span(kernel_size, dilation)  # the kernel's extent, holes included
        field += (span - 1) * jump
        start += (span - 1) / 2 * jump
        jump *= stride
        if size is not None:
            try:
                size = conv_output_size(size, kernel_size, stride, "valid", dilation)
            except ValueError as error:  # the kernel is wider than what reaches this layer
                raise ValueError(
                    f"input_size={input_size} is too small: {name} gets {size} pixels "
                    f"but its kernel spans {span}"
                ) from error
        records.append(
            LayerField(index, name, kernel_size, stride, dilation, field, jump, start, size)
        )
    return records


def receptive_field_size(layers) -> int:
    """The receptive field (in input pixels) of a neuron in the last layer of ``layers``."""
    records = receptive_fields(layers)
    return records[-1].receptive_field if records else 1


def _extent(gradient: np.ndarray) -> tuple[int, int]:
    """Height and width of the smallest box holding every nonzero of a 2-D array."""
    rows = np.flatnonzero(np.any(gradient != 0, axis=1))
    cols = np.flatnonzero(np.any(gradient != 0, axis=0))
    if rows.size == 0:
        raise ValueError("the gradient is zero everywhere: use positive weights and avg pooling")
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def measure_receptive_field_torch(model, input_shape) -> tuple[int, int]:
    """Measure (height, width) of the receptive field of a central output neuron of a PyTorch model.

    ``input_shape`` is ``(channels, height, width)``. The gradient of the neuron (summed over the
    output channels) with respect to a ones input is nonzero exactly on its field as long as the
    weights are positive; use average pooling (max pooling passes the gradient to one pixel only).
    """
    import torch

    x = torch.ones(
        (1, *positive_ints(input_shape, "input_shape", length=3, what=_CHW)), requires_grad=True
    )
    y = model(x)  # (1, channels, height, width)
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    return _extent(x.grad[0].abs().sum(dim=0).numpy())


def measure_receptive_field_keras(model, input_shape) -> tuple[int, int]:
    """Measure (height, width) of the receptive field of a central output neuron of a Keras model.

    ``input_shape`` is ``(height, width, channels)``; the same conditions as for
    ``measure_receptive_field_torch`` apply.
    """
    import tensorflow as tf

    x = tf.ones((1, *positive_ints(input_shape, "input_shape", length=3, what=_HWC)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)  # (1, height, width, channels)
        neuron = tf.reduce_sum(y[0, y.shape[1] // 2, y.shape[2] // 2, :])
    gradient = tape.gradient(neuron, x)
    return _extent(tf.reduce_sum(tf.abs(gradient[0]), axis=-1).numpy())
