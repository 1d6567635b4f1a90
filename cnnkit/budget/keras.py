"""The budget calculator's Keras half: read a model, build one from layer specs, measure memory.

``trace`` runs one instance of zeros through a model (inference mode) and hands each layer call to
``cnnkit.budget._graph.Graph`` (``cnnkit.budget.estimate`` calls it for a Keras model); the operations
of a functional model are seen, but not plain functions inside a custom layer's ``call`` (they add
no parameters; what they keep for backprop is missed). ``build`` makes the ``keras.Sequential`` of a
list of layer specs; ``measure_peak`` reads TensorFlow's GPU peak counter (None without a GPU);
``checkpointed_kept_bytes`` computes what gradient checkpointing keeps (``keras.RematScope``
recomputes in Keras 3). ``cnnkit.budget.torch`` has the same names for PyTorch. Importing this
module imports Keras and TensorFlow.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from cnnkit._checks import positive_ints
from cnnkit.budget._graph import Graph, flatten_nested
from cnnkit.budget._records import Budget, checkpoint_starts, kept_with_checkpoints
from cnnkit.budget._specs import from_specs

__all__ = ["build", "checkpointed_kept_bytes", "measure_peak", "trace"]


_KERAS_LAYERS = {
    "MaxPooling2D": "max_pool2d",
    "AveragePooling2D": "avg_pool2d",
    "GlobalMaxPooling2D": "global_max_pool2d",
    "GlobalAveragePooling2D": "global_avg_pool2d",
    "Flatten": "flatten",
    "Reshape": "reshape",
    "Identity": "identity",
    "Dropout": "dropout",
    "SpatialDropout2D": "spatial_dropout2d",
    "Add": "add",
    "Subtract": "add",
    "Concatenate": "concatenate",
    "Multiply": "multiply",
    "ZeroPadding2D": "zero_padding2d",
    "Rescaling": "pointwise",
}
_KERAS_ACTIVATIONS = {
    "Softmax": "softmax",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
}


def _keras_kind(name: str, op):
    """(kind, config, channel axis per instance) of a Keras layer or functional operation."""
    cls = type(op).__name__
    axis = 0 if getattr(op, "data_format", "channels_last") == "channels_first" else -1
    activation = getattr(getattr(op, "activation", None), "__name__", None)
    if cls in {"Conv2D", "DepthwiseConv2D", "SeparableConv2D"}:
        kind = {"Conv2D": "conv2d", "DepthwiseConv2D": "depthwise_conv2d"}.get(
            cls, "separable_conv2d"
        )
        return (
            kind,
            {
                "kernel_size": op.kernel_size,
                "groups": getattr(op, "groups", 1),
                "use_bias": op.use_bias,
                "depth_multiplier": getattr(op, "depth_multiplier", 1),
                "activation": activation,
            },
            axis,
        )
    if cls == "Dense":
        return "dense", {"use_bias": op.use_bias, "activation": activation}, -1
    if cls == "BatchNormalization":
        return (
            "batch_norm",
            {"scale": op.scale, "center": op.center},
            op.axis - 1 if op.axis > 0 else op.axis,
        )
    if cls == "LocalResponseNormalization":  # cnnkit.blocks.keras's layer
        return "local_response_norm", {"size": 2 * op.depth_radius + 1}, -1
    if cls == "Activation":
        return "activation", {"activation": activation}, axis
    if cls == "ReLU":
        plain = op.max_value is None and not op.negative_slope and not op.threshold
        return "activation", {"activation": "relu" if plain else "relu with options"}, axis
    if cls in _KERAS_ACTIVATIONS:
        return "activation", {"activation": _KERAS_ACTIVATIONS[cls]}, axis
    if cls in _KERAS_LAYERS:
        return _KERAS_LAYERS[cls], {}, axis
    raise ValueError(
        f"layer {name!r}: the budget calculator does not know Keras layers of type {cls}"
    )


def _input_shape(model, input_shape):
    """``input_shape`` checked, or the shape of the model's single ``keras.Input`` (no batch axis)."""
    if input_shape is None:
        try:
            inputs = keras.tree.flatten(model.inputs)
        except (AttributeError, ValueError):  # a model without an Input
            inputs = []
        if len(inputs) != 1:
            raise ValueError(
                "input_shape is missing: the Keras model has no single Input; start it with "
                "keras.Input(shape) or pass input_shape=(height, width, channels)"
            )
        input_shape = tuple(inputs[0].shape[1:])
        if None in input_shape:
            raise ValueError(
                f"the model's input shape {input_shape} has unknown sizes: pass input_shape"
            )
    return positive_ints(
        input_shape, "input_shape", what="a tuple of positive ints (no batch axis)"
    )


def trace(model, input_shape=None) -> Budget:
    """The budget of a Keras model; ``input_shape`` (no batch axis) only if it has no ``keras.Input``."""
    shape = _input_shape(model, input_shape)
    x = keras.ops.convert_to_tensor(np.zeros((1, *shape), "float32"))
    graph, held, depth, keys = Graph(shape), [x], [0], {id(x): "input"}
    original = keras.Operation.__call__

    def call(op, *args, **kwargs):
        if depth[0] or (
            isinstance(op, keras.layers.Layer) and op._layers
        ):  # inside a leaf, or a container
            return original(op, *args, **kwargs)
        depth[0] += 1
        try:
            output = original(op, *args, **kwargs)
        finally:
            depth[0] -= 1
        kind, config, axis = _keras_kind(op.name, op)
        tensors = [t for t in flatten_nested([args, kwargs]) if keras.ops.is_tensor(t)]
        outputs = flatten_nested(output)
        if len(outputs) != 1:
            raise ValueError(
                f"layer {op.name!r} returns {len(outputs)} tensors; the calculator needs one"
            )
        inputs = [keys.setdefault(id(t), f"tensor {len(held) + i}") for i, t in enumerate(tensors)]
        held.extend([*tensors, *outputs])  # alive until the end, so that ids stay unique
        out_key = f"{op.name} #{len(graph.records)}"
        graph.add(
            op.name,
            kind,
            config,
            inputs,
            [tuple(t.shape[1:]) for t in tensors],
            out_key,
            tuple(outputs[0].shape[1:]),
            axis,
        )
        keys[id(outputs[0])] = out_key
        return output

    keras.Operation.__call__ = call
    try:
        output = model(x, training=False)
    finally:
        keras.Operation.__call__ = original
    return graph.finish([keys[id(t)] for t in flatten_nested(output) if id(t) in keys])


def measure_peak(model, inputs, *, train: bool = True):
    """Peak bytes TensorFlow allocated on the first GPU during a forward (and backward) pass, or
    None when TensorFlow sees no GPU.

    The peak includes what was already on the GPU (the weights).
    """
    if not tf.config.list_physical_devices("GPU"):
        return None
    tf.config.experimental.reset_memory_stats("GPU:0")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(model(inputs, training=train), tf.float32))
    if train:
        tape.gradient(loss, model.trainable_variables)
    return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def build(specs, input_shape):
    """A ``keras.Sequential`` model made from layer specs (the arguments are Keras's own names)."""
    from_specs(specs, input_shape)  # checks the specs, with clear errors
    classes = {
        "conv2d": layers.Conv2D,
        "depthwise_conv2d": layers.DepthwiseConv2D,
        "separable_conv2d": layers.SeparableConv2D,
        "dense": layers.Dense,
        "max_pool2d": layers.MaxPooling2D,
        "avg_pool2d": layers.AveragePooling2D,
        "global_avg_pool2d": layers.GlobalAveragePooling2D,
        "batch_norm": layers.BatchNormalization,
        "activation": layers.Activation,
        "flatten": layers.Flatten,
        "dropout": layers.Dropout,
    }
    defaults = {
        "max_pool2d": {"pool_size": 2},
        "avg_pool2d": {"pool_size": 2},
        "dropout": {"rate": 0.5},
    }
    made = [
        classes[s["type"]](
            **{**defaults.get(s["type"], {}), **{k: v for k, v in s.items() if k != "type"}}
        )
        for s in specs
    ]
    return keras.Sequential([keras.Input(tuple(input_shape)), *made])


def checkpointed_kept_bytes(
    model, segments: int, batch_size: int, input_shape=None, dtype: str = "float32"
) -> int:
    """Bytes kept for backprop when a ``keras.Sequential`` runs in checkpointed segments.

    The same split as ``cnnkit.budget.torch.checkpointed_kept_bytes``: runs of ``len // segments``
    layers, the last run taking the rest; a checkpointed run keeps only its input, the last run what
    it always keeps. ``input_shape`` (no batch axis) only if the model has no ``keras.Input``.
    """
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"model must be a keras.Sequential, got {type(model).__name__}")
    stack = list(model.layers)
    starts = checkpoint_starts(len(stack), segments)
    x = keras.ops.zeros((1, *_input_shape(model, input_shape)))
    shapes = []
    for layer in stack:  # the input shape of each layer, found by running zeros through
        shapes.append(tuple(x.shape[1:]))
        x = layer(x, training=False)
    tail = trace(keras.Sequential([keras.Input(shapes[starts[-1]]), *stack[starts[-1] :]]))
    return kept_with_checkpoints(shapes, starts, tail, batch_size, dtype)
