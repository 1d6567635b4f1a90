"""Reading Keras and PyTorch models for the budget calculator, and building models from layer specs.

``trace_torch`` and ``trace_keras`` run one instance of zeros through a model (inference mode, no
gradients) and hand each layer call (which tensors go in, what comes out, their shapes) to
``cnnkit.budget.Graph``. In PyTorch, the functions called in a ``forward`` outside the leaf modules
(``F.relu(x + skip)``, ``torch.cat``, ``x.mean(...)``) are seen too, through a ``TorchFunctionMode``;
in Keras, the operations of a functional model are seen, but not plain functions inside a custom
layer's ``call`` (they add no parameters; what they keep for backprop is missed).
"""

from __future__ import annotations

from cnnkit.budget import VIEWS, Budget, Graph, LayerBudget

_TORCH_ACTIVATIONS = {
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "GELU": "gelu",
    "SiLU": "silu",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "SELU": "selu",
    "ReLU6": "relu6",
    "Softplus": "softplus",
}
_TORCH_MODULES = {
    "MaxPool2d": "max_pool2d",
    "AvgPool2d": "avg_pool2d",
    "AdaptiveMaxPool2d": "global_max_pool2d",
    "Flatten": "flatten",
    "Unflatten": "reshape",
    "Identity": "identity",
    "Sequential": "identity",
    "Dropout": "dropout",
    "Dropout2d": "spatial_dropout2d",
    "ZeroPad2d": "zero_padding2d",
    "ConstantPad2d": "zero_padding2d",
}  # an empty Sequential returns its input
_TORCH_OPS = {
    **dict.fromkeys(
        [
            "add",
            "add_",
            "__add__",
            "__radd__",
            "__iadd__",
            "sub",
            "sub_",
            "__sub__",
            "__rsub__",
            "__isub__",
        ],
        "add",
    ),
    **dict.fromkeys(
        [
            "mul",
            "mul_",
            "__mul__",
            "__rmul__",
            "__imul__",
            "div",
            "div_",
            "__truediv__",
            "__itruediv__",
        ],
        "multiply",
    ),
    **dict.fromkeys(["cat", "concat", "concatenate"], "concatenate"),
    **dict.fromkeys(
        ["flatten", "view", "reshape", "__getitem__", "unsqueeze", "squeeze"], "reshape"
    ),
    **dict.fromkeys(["contiguous", "clone", "to", "float", "detach"], "pointwise"),
    "mean": "mean",
    "max_pool2d": "max_pool2d",
    "avg_pool2d": "avg_pool2d",
    "dropout": "dropout",
    "adaptive_avg_pool2d": "adaptive_avg_pool2d",
    "pad": "zero_padding2d",
}
_TORCH_OP_ACTIVATIONS = {
    "relu": "relu",
    "relu_": "relu",
    "sigmoid": "sigmoid",
    "sigmoid_": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "gelu": "gelu",
    "silu": "silu",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
}
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


def _shape(input_shape, what: str) -> tuple[int, ...]:
    if input_shape is None:
        raise ValueError(f"input_shape is missing: {what}")
    shape = tuple(input_shape)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise ValueError(
            f"input_shape must be a tuple of positive ints (no batch axis), got {input_shape!r}"
        )
    return shape


def _flatten(items):
    if isinstance(items, dict):
        items = list(items.values())
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in _flatten(item)]
    return [items]


def _torch_module_kind(name: str, module):
    """(kind, config) of a PyTorch leaf module."""
    from torch import nn

    cls = type(module).__name__
    if isinstance(module, nn.Conv2d):
        return "conv2d", {
            "kernel_size": module.kernel_size,
            "groups": module.groups,
            "use_bias": module.bias is not None,
        }
    if isinstance(module, nn.Linear):
        return "dense", {"use_bias": module.bias is not None}
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "batch_norm", {
            "scale": module.affine,
            "center": module.affine,
            "track_running_stats": module.track_running_stats,
        }
    if isinstance(module, nn.LocalResponseNorm):
        return "local_response_norm", {"size": module.size}
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return (
            "global_avg_pool2d" if module.output_size in (1, (1, 1)) else "adaptive_avg_pool2d"
        ), {}
    if type(module).__module__.startswith("torch.nn"):
        if cls in _TORCH_ACTIVATIONS:
            return "activation", {
                "activation": _TORCH_ACTIVATIONS[cls],
                "inplace": getattr(module, "inplace", False),
            }
        if cls in _TORCH_MODULES:
            return _TORCH_MODULES[cls], {}
    raise ValueError(
        f"layer {name!r}: the budget calculator does not know PyTorch modules of type {cls}"
    )


def trace_torch(module, input_shape) -> Budget:
    """The budget of a PyTorch module; ``input_shape`` is one input's shape, e.g. (3, 224, 224)."""
    import torch
    from torch.overrides import TorchFunctionMode

    shape = _shape(input_shape, "a PyTorch module needs the shape of one input, e.g. (3, 224, 224)")
    names = {m: n or type(module).__name__ for n, m in module.named_modules()}
    leaves = {m for m in names if not list(m.children())}
    for m, name in names.items():
        if m not in leaves and list(m.parameters(recurse=False)):
            raise ValueError(
                f"layer {name!r} ({type(m).__name__}) holds parameters beside its submodules: "
                "the calculator cannot tell what it computes with them"
            )
    first = next(module.parameters(), None)
    x = torch.zeros(
        (1, *shape), **({} if first is None else {"dtype": first.dtype, "device": first.device})
    )
    graph, held, called, scope, quiet = Graph(shape), [x], set(), [], [0]
    by_id, by_storage = {id(x): "input"}, {x.untyped_storage().data_ptr(): "input"}

    def address(tensor):
        return tensor.untyped_storage().data_ptr()

    def key_of(tensor):
        key = by_id.get(id(tensor)) or by_storage.get(address(tensor))
        if key is None:  # a tensor that no traced call made
            key = by_id[id(tensor)] = f"tensor {len(held)}"
            by_storage.setdefault(address(tensor), key)
        held.append(tensor)  # alive until the end, so that ids and addresses stay unique
        return key

    def record(name, kind, config, tensors, output):
        out_key = f"{name} #{len(graph.records)}"
        graph.add(
            name,
            kind,
            config,
            [key_of(t) for t in tensors],
            [tuple(t.shape[1:]) for t in tensors],
            out_key,
            tuple(output.shape[1:]),
            channel_axis=0,
        )
        held.append(output)
        by_id[id(output)] = out_key
        by_storage.setdefault(address(output), out_key)

    class Operations(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            output = func(*args, **(kwargs or {}))
            if quiet[0] or not isinstance(output, torch.Tensor):
                return output
            tensors = [t for t in _flatten([args, kwargs or {}]) if isinstance(t, torch.Tensor)]
            if not any(id(t) in by_id or address(t) in by_storage for t in tensors):
                return output  # works on constants, not on the data flowing through the model
            op = getattr(func, "__name__", str(func))
            name = f"{scope[-1]}.{op.strip('_')}()"
            if op in _TORCH_OP_ACTIVATIONS:
                kind, config = "activation", {"activation": _TORCH_OP_ACTIVATIONS[op]}
            elif op in _TORCH_OPS:
                kind, config = _TORCH_OPS[op], {}
                if kind == "multiply" and len(tensors) < 2:
                    kind = "pointwise"  # times a number: nothing to keep
                if kind == "adaptive_avg_pool2d" and tuple(output.shape[2:]) == (1, 1):
                    kind = "global_avg_pool2d"
            else:
                raise ValueError(
                    f"layer {scope[-1]!r} calls {op}(), which the budget calculator does not know"
                )
            config["inplace"] = kind not in VIEWS | {"dropout"} and address(output) == address(
                tensors[0]
            )
            record(name, kind, config, tensors, output)
            return output

    def enter(mod, args):
        scope.append(names[mod])
        quiet[0] += mod in leaves

    def leave(mod, args, output):
        if mod in leaves:
            if not isinstance(output, torch.Tensor):
                raise ValueError(
                    f"layer {names[mod]!r} returns {type(output).__name__}, not one tensor"
                )
            kind, config = _torch_module_kind(names[mod], mod)
            record(
                names[mod], kind, config, [a for a in args if isinstance(a, torch.Tensor)], output
            )
            called.add(mod)
            quiet[0] -= 1
        scope.pop()

    modes = {m: m.training for m in names}
    handles = [
        h
        for m in names
        for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))
    ]
    try:
        module.eval()
        with torch.no_grad(), Operations():
            output = module(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes.items():
            m.training = mode
    for m in sorted(leaves - called, key=lambda m: names[m]):  # never called, but counted
        count = sum(p.numel() for p in m.parameters())
        if count:
            _torch_module_kind(names[m], m)
            graph.records.append(
                LayerBudget(f"{names[m]} (not called)", "unused", (), count, 0, 0, 0, 0)
            )
    return graph.finish([key_of(output)] if isinstance(output, torch.Tensor) else [])


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
    if cls == "LocalResponseNormalization":  # cnnkit.blocks_keras's layer
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


def trace_keras(model, input_shape=None) -> Budget:
    """The budget of a Keras model; ``input_shape`` (no batch axis) only if it has no ``keras.Input``."""
    import keras
    import numpy as np

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
    shape = _shape(input_shape, "pass input_shape=(height, width, channels)")
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
        tensors = [t for t in _flatten([args, kwargs]) if keras.ops.is_tensor(t)]
        outputs = _flatten(output)
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
    return graph.finish([keys[id(t)] for t in _flatten(output) if id(t) in keys])


def _sequential_layers(model):
    """The top-level layers of a ``keras.Sequential`` or ``nn.Sequential``, and the framework."""
    modules = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if "torch" in modules and type(model).__name__ == "Sequential":
        return list(model), "torch"
    if "keras" in modules and type(model).__name__ == "Sequential":
        return list(model.layers), "keras"
    raise TypeError(
        f"model must be a keras.Sequential or an nn.Sequential, got {type(model).__name__}"
    )


def checkpointed_kept_bytes(
    model, segments: int, batch_size: int, input_shape=None, dtype: str = "float32"
) -> int:
    """Bytes kept for backprop when a Sequential model runs in checkpointed segments.

    The split is ``torch.utils.checkpoint.checkpoint_sequential``'s: runs of ``len // segments``
    layers, the last run taking the rest. A checkpointed run keeps only its input (its inside is
    recomputed during backprop); the last run is not checkpointed and keeps what it always keeps.
    """
    import math

    from cnnkit.budget import dtype_bytes, estimate

    layers, framework = _sequential_layers(model)
    if (
        isinstance(segments, bool)
        or not isinstance(segments, int)
        or not 1 <= segments <= len(layers)
    ):
        raise ValueError(f"segments must be an int from 1 to {len(layers)}, got {segments!r}")
    size = len(layers) // segments
    last = size * (segments - 1)
    shapes = [tuple(r) for r in _layer_input_shapes(model, layers, framework, input_shape)]
    kept_inputs = sum(math.prod(shapes[start]) for start in range(0, last, size))
    if framework == "torch":
        from torch import nn

        tail = estimate(nn.Sequential(*layers[last:]), shapes[last])
    else:
        import keras

        tail = estimate(keras.Sequential([keras.Input(shapes[last]), *layers[last:]]))
    return batch_size * kept_inputs * dtype_bytes(dtype) + tail.kept_bytes(batch_size, dtype)


def _layer_input_shapes(model, layers, framework, input_shape):
    """The input shape (no batch axis) of each top-level layer, found by running zeros through."""
    if framework == "torch":
        import torch

        x = torch.zeros((1, *_shape(input_shape, "pass the shape of one input")))
        shapes, modes = [], {m: m.training for m in model.modules()}
        model.eval()
        with torch.no_grad():
            for layer in layers:
                shapes.append(tuple(x.shape[1:]))
                x = layer(x)
        for m, mode in modes.items():
            m.training = mode
        return shapes
    import keras

    x = keras.ops.zeros((1, *(input_shape or model.inputs[0].shape[1:])))
    shapes = []
    for layer in layers:
        shapes.append(tuple(x.shape[1:]))
        x = layer(x, training=False)
    return shapes
