"""The budget of a list of layer specs: plain dicts with Keras's argument names, channels last.

Specs let a network be described without a framework (exercises, "what if" questions); the
``build`` functions of ``cnnkit.budget.keras`` and ``cnnkit.budget.torch`` make the same network in
each framework, so that what is computed here can be measured there.
"""

from __future__ import annotations

import math

from cnnkit._checks import one_of, pair, positive_int, positive_ints
from cnnkit.budget._graph import SPEC_KEYS, Graph
from cnnkit.budget._records import Budget
from cnnkit.conv import conv_output_size


def _spec_output_shape(where, kind, spec, shape):
    """Output shape (channels last) of one layer spec."""
    if kind in {"conv2d", "depthwise_conv2d", "separable_conv2d", "max_pool2d", "avg_pool2d"}:
        if len(shape) != 3:
            raise ValueError(f"{where}: needs a (height, width, channels) input, got {shape}")
        if kind.endswith("pool2d"):
            window = pair(spec.get("pool_size", 2), f"{where} pool_size")
        elif "kernel_size" in spec:
            window = pair(spec["kernel_size"], f"{where} kernel_size")
        else:
            raise ValueError(f"{where}: a {kind} layer needs a kernel_size")
        default = window if kind.endswith("pool2d") else 1
        strides = pair(spec.get("strides") or default, f"{where} strides")
        padding = one_of(spec.get("padding", "valid"), ("same", "valid"), f"{where}: padding")
        try:
            size = [
                conv_output_size(n, w, s, padding)
                for n, w, s in zip(shape[:2], window, strides, strict=True)
            ]
        except ValueError as error:  # the window is wider than the input
            raise ValueError(f"{where}: {error}") from error
        channels = {
            "conv2d": spec.get("filters"),
            "separable_conv2d": spec.get("filters"),
            "depthwise_conv2d": shape[2] * spec.get("depth_multiplier", 1),
        }.get(kind, shape[2])
        return (*size, positive_int(channels, f"{where} filters"))
    if kind == "dense":
        return (*shape[:-1], positive_int(spec.get("units"), f"{where} units"))
    if kind == "global_avg_pool2d":
        return (shape[-1],)
    if kind == "flatten":
        return (math.prod(shape),)
    return tuple(shape)


def from_specs(specs, input_shape) -> Budget:
    """The budget of a plain stack of layer specs on a channels-last ``input_shape`` (no batch axis).

    Each spec is a dict with a ``type`` (one of ``SPEC_KEYS``), an optional ``name`` and the
    Keras-style arguments of that type, e.g. ``{"type": "conv2d", "filters": 32, "kernel_size": 3,
    "strides": 1, "padding": "same", "activation": "relu"}``.
    """
    if input_shape is None:
        raise ValueError(
            "input_shape is missing: a list of layer specs needs (height, width, channels)"
        )
    shape = positive_ints(input_shape, "input_shape")
    graph = Graph(shape)
    previous = "input"
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise ValueError(f"layers[{index}] must be a dict with a 'type', got {spec!r}")
        name = str(spec.get("name", f"{spec.get('type', 'layer')}_{index + 1}"))
        where = f"layers[{index}] ({name!r})"
        kind = spec.get("type")
        if kind not in SPEC_KEYS:
            raise ValueError(
                f"{where}: unknown layer type {kind!r}; expected one of {', '.join(SPEC_KEYS)}"
            )
        unknown = set(spec) - SPEC_KEYS[kind] - {"type", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} for a {kind} layer")
        out_shape = _spec_output_shape(where, kind, spec, shape)
        graph.add(name, kind, spec, [previous], [shape], name, out_shape)
        previous, shape = name, out_shape
    return graph.finish([previous])
