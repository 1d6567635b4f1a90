"""Memory and compute budgets of CNNs: parameters, multiply-accumulates, activations and bytes.

``estimate(model)`` takes a Keras model, a PyTorch module (with ``input_shape``, no batch axis) or a
list of layer specs (dicts, channels last, with ``input_shape=(height, width, channels)``) and
returns a ``Budget``: one ``LayerBudget`` record per layer, totals, and the memory for inference and
for training at a batch size. Units are SI: 1 MB = 10**6 bytes.

What "kept for backprop" means. The training estimate counts the tensors that PyTorch's autograd
saves during the forward pass (as ``cnnkit.budget_measure.measure_saved_tensors`` measures them),
each storage once: the input of every convolution and dense layer; the input of batch norm (plus
two float32 statistics per channel); the output of ReLU, sigmoid, tanh and softmax (the input of
GELU, SiLU, leaky ReLU, ELU); the input of max pooling plus its int64 indices; the input of average
pooling; for local response normalization, its input, the padded squares and two input-sized
intermediates; the dropout mask (input-sized, in the activation dtype, as on the CPU; CUDA keeps 1 byte
per value). Global average pooling, flatten, add and concatenation keep nothing. In a plain stack of
conv + ReLU layers this is the network's input plus every layer's output: the textbook rule.

Inference keeps only what is still needed: the estimate is the peak, over the layers, of the tensors
alive while a layer runs (its inputs, its output, and skip connections waiting to be used), plus the
parameters. Both estimates leave out the frameworks' workspaces and allocator slack (lower bounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MB = 10**6  # SI megabyte
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # values kept per parameter
SAVES_OUTPUT = {"relu", "sigmoid", "tanh", "softmax"}
SAVES_INPUT = {"gelu", "silu", "swish", "leaky_relu", "elu", "selu", "relu6", "softplus"}
ACTIVATIONS = SAVES_OUTPUT | SAVES_INPUT | {"linear"}
VIEWS = {"flatten", "reshape", "identity"}
_CONV_KEYS = {"kernel_size", "strides", "padding", "use_bias", "activation"}
_POOL_KEYS = {"pool_size", "strides", "padding"}
SPEC_KEYS = {  # the layer types of a spec list, and the keys each one takes (Keras's names)
    "conv2d": _CONV_KEYS | {"filters", "groups"},
    "depthwise_conv2d": _CONV_KEYS | {"depth_multiplier"},
    "separable_conv2d": _CONV_KEYS | {"filters", "depth_multiplier"},
    "dense": {"units", "use_bias", "activation"},
    "max_pool2d": _POOL_KEYS,
    "avg_pool2d": _POOL_KEYS,
    "global_avg_pool2d": set(),
    "batch_norm": set(),
    "activation": {"activation"},
    "flatten": set(),
    "dropout": {"rate"},
}
KINDS = (  # what the calculator knows; "pointwise" is an element-wise op that keeps nothing (x * 2)
    *SPEC_KEYS,
    *"global_max_pool2d adaptive_avg_pool2d spatial_dropout2d reshape identity add".split(),
    *"concatenate multiply mean zero_padding2d pointwise local_response_norm".split(),
)


def dtype_bytes(dtype: str) -> int:
    """Bytes per value of ``dtype`` ("float32", "float16" or "bfloat16")."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {sorted(DTYPE_BYTES)}, got {dtype!r}")
    return DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class LayerBudget:
    """One layer: its size, its compute, and what it adds to the memory (values per instance)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]  # per instance, in the framework's own layout
    params: int  # trainable-type weights (kernels, biases, batch-norm scale and offset)
    non_trainable: int  # batch-norm moving statistics (Keras counts them, PyTorch keeps buffers)
    macs: int  # multiply-accumulates per instance
    output_values: int
    kept_values: int  # activation values this layer adds to what backprop keeps
    kept_index_values: int = 0  # int64 pooling indices kept for backprop
    kept_fixed_values: int = 0  # float32 values kept whatever the batch (batch-norm statistics)
    weight_copy_values: int = 0  # weights copied to 16 bits under mixed precision

    def output_bytes(self, dtype: str = "float32", batch_size: int = 1) -> int:
        return self.output_values * dtype_bytes(dtype) * batch_size


@dataclass(frozen=True)
class Memory:
    """Bytes of memory by purpose; ``total`` adds them up."""

    parameters: int
    activations: int
    gradients: int = 0
    optimizer_state: int = 0

    @property
    def total(self) -> int:
        return self.parameters + self.activations + self.gradients + self.optimizer_state

    def megabytes(self) -> dict[str, float]:
        parts = ("parameters", "activations", "gradients", "optimizer_state", "total")
        return {part: getattr(self, part) / MB for part in parts}


@dataclass(frozen=True)
class Budget:
    """Per-layer records and totals of a network; memory for inference and for training."""

    layers: tuple[LayerBudget, ...]
    input_shape: tuple[int, ...]
    inference_peak_values: int  # activation values alive at the inference peak, per instance
    peak_layer: str  # the layer that runs at that peak

    def _sum(self, name: str) -> int:
        return sum(getattr(layer, name) for layer in self.layers)

    input_values = property(lambda self: math.prod(self.input_shape))
    params = property(lambda self: self._sum("params"))
    non_trainable = property(lambda self: self._sum("non_trainable"))
    macs = property(lambda self: self._sum("macs"))
    output_values = property(lambda self: self._sum("output_values"))
    kept_values = property(lambda self: self._sum("kept_values"))
    kept_index_values = property(lambda self: self._sum("kept_index_values"))
    kept_fixed_values = property(lambda self: self._sum("kept_fixed_values"))
    weight_copy_values = property(lambda self: self._sum("weight_copy_values"))

    def inference_memory(self, batch_size: int = 1, dtype: str = "float32") -> Memory:
        """Parameters plus the activations alive at the peak, everything in ``dtype``."""
        size = dtype_bytes(dtype)
        batch_size = _positive_int(batch_size, "batch_size")
        return Memory(
            (self.params + self.non_trainable) * size,
            batch_size * self.inference_peak_values * size,
        )

    def kept_bytes(
        self, batch_size: int = 1, dtype: str = "float32", mixed_precision: bool = False
    ) -> int:
        """Bytes that backprop keeps from the forward pass (what ``measure_saved_tensors`` counts)."""
        batch_size = _positive_int(batch_size, "batch_size")
        per_instance = self.kept_values * dtype_bytes(dtype) + self.kept_index_values * 8
        copies = self.weight_copy_values * dtype_bytes(dtype) if mixed_precision else 0
        return batch_size * per_instance + self.kept_fixed_values * 4 + copies

    def training_memory(
        self,
        batch_size: int,
        dtype: str = "float32",
        optimizer: str = "adam",
        mixed_precision: bool = False,
    ) -> Memory:
        """Parameters, gradients, optimizer state and kept activations for one training step.

        ``dtype`` is the activations' dtype. Without ``mixed_precision`` the weights, gradients and
        optimizer state use it too; with it they stay float32 and the convolution and dense weights
        are also copied to ``dtype`` for the forward pass. ``optimizer``: "sgd", "momentum", "adam".
        Mixed precision assumes 16-bit activations throughout; PyTorch's autocast keeps a few
        operations in float32 (local response normalization, for one), which this does not model.
        """
        if optimizer not in OPTIMIZER_STATES:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZER_STATES)}, got {optimizer!r}"
            )
        if mixed_precision and dtype == "float32":
            raise ValueError("mixed_precision needs a 16-bit dtype: 'float16' or 'bfloat16'")
        weight_size = 4 if mixed_precision else dtype_bytes(dtype)
        return Memory(
            parameters=(self.params + self.non_trainable) * weight_size,
            activations=self.kept_bytes(batch_size, dtype, mixed_precision),
            gradients=self.params * weight_size,
            optimizer_state=OPTIMIZER_STATES[optimizer] * self.params * weight_size,
        )

    def rows(self, dtype: str = "float32", batch_size: int = 1) -> list[dict]:
        """One dict per layer (for a table or a plot); bytes in ``dtype`` for ``batch_size`` instances."""
        size = dtype_bytes(dtype) * _positive_int(batch_size, "batch_size")
        return [
            {
                "layer": r.name,
                "kind": r.kind,
                "output shape": r.output_shape,
                "parameters": r.params,
                "non-trainable": r.non_trainable,
                "MACs": r.macs,
                "output values": r.output_values,
                "output MB": r.output_values * size / MB,
                "kept MB": (
                    r.kept_values * size
                    + r.kept_index_values * 8 * batch_size
                    + r.kept_fixed_values * 4
                )
                / MB,
            }
            for r in self.layers
        ]

    def summary(self, dtype: str = "float32", batch_size: int = 1) -> str:
        """A text table of the records and their totals (bytes for ``batch_size`` in ``dtype``)."""
        widths = {"layer": 24, "kind": 18, "output shape": 16, "parameters": 12, "MACs": 15}
        widths.update({"output MB": 11, "kept MB": 10})
        head = "".join(
            f"{k:<{w}}" if k in ("layer", "kind") else f"{k:>{w}}" for k, w in widths.items()
        )
        lines = [head, "-" * len(head)]
        rows = self.rows(dtype, batch_size)
        for row in rows:
            lines.append(
                f"{row['layer'][:23]:<24}{row['kind'][:17]:<18}{str(row['output shape']):>16}"
                f"{row['parameters']:>12,}{row['MACs']:>15,}{row['output MB']:>11.3f}{row['kept MB']:>10.3f}"
            )
        lines.append("-" * len(head))
        kept = self.kept_bytes(batch_size, dtype) / MB
        lines.append(
            f"{'total':<58}{self.params + self.non_trainable:>12,}{self.macs:>15,}"
            f"{sum(r['output MB'] for r in rows):>11.3f}{kept:>10.3f}"
        )
        return "\n".join(lines)


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def _pair(value, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return tuple(_positive_int(v, what) for v in pair)


@dataclass
class Graph:
    """Builds a ``Budget`` from layer calls, following tensors by key (used by every front end).

    Each tensor key has a *storage* (views share their input's, as in training) and an inference
    *buffer* (dropout, an identity at inference, shares it too).
    """

    input_shape: tuple[int, ...]
    storage: dict = field(default_factory=dict)  # key -> storage id
    buffer: dict = field(default_factory=dict)  # key -> buffer id
    values: dict = field(default_factory=dict)  # storage or buffer id -> values per instance
    span: dict = field(default_factory=dict)  # buffer id -> [first step, last step]
    saved: set = field(default_factory=set)
    records: list = field(default_factory=list)
    names: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tensor("input", self.input_shape, step=-1)

    def tensor(self, key, shape, step: int, like=None, buffer_like=None) -> None:
        """Register the tensor ``key``: a new storage, or a view of the storage of ``like``."""
        ident = ("t", key)
        self.storage[key] = self.storage[like] if like is not None else ident
        source = buffer_like if buffer_like is not None else like
        self.buffer[key] = self.buffer[source] if source is not None else ident
        self.values.setdefault(self.storage[key], math.prod(shape))
        self.values.setdefault(self.buffer[key], math.prod(shape))
        self.span.setdefault(self.buffer[key], [step, step])

    def add(
        self, name, kind, config, inputs, in_shapes, out_key, out_shape, channel_axis=-1
    ) -> None:
        """Record one call of a layer: ``inputs`` are tensor keys (unknown ones are new tensors)."""
        step = len(self.records)
        for key, shape in zip(inputs, in_shapes, strict=True):
            if key not in self.storage:  # made by an operation the front end cannot see
                self.tensor(key, shape, step)
            self.span[self.buffer[key]][1] = step
        count = self.names[name] = self.names.get(name, 0) + 1
        name = name if count == 1 else f"{name} (call {count})"
        rule = layer_rule(name, kind, config, in_shapes, out_shape, channel_axis)
        if kind in VIEWS or rule["inplace"]:
            self.tensor(out_key, out_shape, step, like=inputs[0])
        else:
            alias = inputs[0] if kind in {"dropout", "spatial_dropout2d"} else None
            self.tensor(out_key, out_shape, step, buffer_like=alias)
        self.span[self.buffer[out_key]][1] = step
        kept = 0
        for what, number in rule["saves"]:
            key = {"input0": inputs[0], "input1": inputs[-1], "output": out_key}.get(what)
            if key is None:
                kept += number  # a tensor made inside the layer (mask, pre-activation)
            elif self.storage[key] not in self.saved:
                self.saved.add(self.storage[key])
                kept += self.values[self.storage[key]]
        self.records.append(
            LayerBudget(
                name,
                kind,
                tuple(out_shape),
                rule["params"],
                rule["non_trainable"],
                rule["macs"],
                0 if kind in VIEWS else math.prod(out_shape),
                kept,
                rule["index"],
                rule["fixed"],
                rule["weight_copy"],
            )
        )

    def finish(self, outputs) -> Budget:
        end = len(self.records)
        for key in outputs:
            self.span[self.buffer[key]][1] = end
        alive = [
            sum(self.values[b] for b, (first, last) in self.span.items() if first <= step <= last)
            for step in range(end)
        ] or [self.values[self.buffer["input"]]]
        peak = max(range(len(alive)), key=alive.__getitem__)
        peak_layer = self.records[peak].name if self.records else "input"
        return Budget(tuple(self.records), tuple(self.input_shape), alive[peak], peak_layer)


def layer_rule(name, kind, config, in_shapes, out_shape, channel_axis=-1) -> dict:
    """Parameters, MACs and what backprop keeps for one layer (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(
            f"layer {name!r}: unknown layer type {kind!r}; the calculator knows {', '.join(KINDS)}"
        )
    in_shape = in_shapes[0]
    rule = {
        "params": 0,
        "non_trainable": 0,
        "macs": 0,
        "saves": [],
        "index": 0,
        "fixed": 0,
        "weight_copy": 0,
        "inplace": bool(config.get("inplace")),
    }  # in place: the output is the input
    positions = math.prod(out_shape) // out_shape[channel_axis] if len(out_shape) > 1 else 1
    if kind in {"conv2d", "depthwise_conv2d", "separable_conv2d", "dense"}:
        if kind == "dense":
            c_in, c_out, taps, groups = in_shape[-1], out_shape[-1], 1, 1
            positions = math.prod(out_shape[:-1])
        else:
            c_in, c_out, groups = (
                in_shape[channel_axis],
                out_shape[channel_axis],
                config.get("groups", 1),
            )
            taps = math.prod(_pair(config["kernel_size"], f"layer {name!r} kernel_size"))
        bias = c_out if config.get("use_bias", True) else 0
        if kind == "conv2d" or kind == "dense":
            weights = taps * (c_in // groups) * c_out
            rule["macs"] = positions * weights
        else:
            depth = c_in * config.get("depth_multiplier", 1)  # maps after the depthwise step
            pointwise = depth * c_out if kind == "separable_conv2d" else 0
            weights = taps * depth + pointwise
            rule["macs"] = positions * weights
            if kind == "separable_conv2d":
                rule["saves"].append(("new", positions * depth))  # the depthwise output
        rule.update(params=weights + bias, weight_copy=weights)
        rule["saves"].insert(0, ("input0", 0))
        activation = config.get("activation") or "linear"
        if activation not in ACTIVATIONS:
            raise ValueError(f"layer {name!r}: unknown activation {activation!r}")
        if activation in SAVES_OUTPUT:
            rule["saves"].append(("output", 0))
        elif activation in SAVES_INPUT:
            rule["saves"].append(("new", math.prod(out_shape)))  # the values before the activation
    elif kind == "batch_norm":
        channels = in_shape[channel_axis]
        rule["params"] = channels * (
            int(config.get("scale", True)) + int(config.get("center", True))
        )
        rule["non_trainable"] = 2 * channels if config.get("track_running_stats", True) else 0
        rule.update(saves=[("input0", 0)], fixed=2 * channels)
    elif kind == "activation":
        activation = config.get("activation") or "linear"
        if activation not in ACTIVATIONS:
            raise ValueError(f"layer {name!r}: unknown activation {activation!r}")
        if activation in SAVES_OUTPUT or (rule["inplace"] and activation != "linear"):
            rule["saves"] = [("output", 0)]
        elif activation in SAVES_INPUT:
            rule["saves"] = [("input0", 0)]
    elif kind in {"max_pool2d", "global_max_pool2d"}:
        rule.update(saves=[("input0", 0)], index=math.prod(out_shape))
    elif kind in {"avg_pool2d", "adaptive_avg_pool2d"}:
        rule["saves"] = [("input0", 0)]
    elif kind == "dropout":
        rule["saves"] = [("new", math.prod(in_shape))]  # the mask (float on the CPU)
    elif kind == "spatial_dropout2d":
        rule["saves"] = [("new", in_shape[channel_axis])]  # one mask value per map
    elif kind == "multiply":
        rule["saves"] = [("input0", 0), ("input1", 0)]
    elif kind == "local_response_norm":  # as PyTorch computes it: x / (k + alpha * mean(x^2))^beta
        padded = (
            math.prod(in_shape)
            // in_shape[channel_axis]
            * (in_shape[channel_axis] + config["size"] - 1)
        )
        rule["saves"] = [("input0", 0), ("new", padded), ("new", 2 * math.prod(in_shape))]
    return rule


def _same_or_valid(size: int, window: int, stride: int, padding: str, where: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    if padding == "valid":
        if size < window:
            raise ValueError(f"{where}: input size {size} is smaller than the window {window}")
        return (size - window) // stride + 1
    raise ValueError(f"{where}: padding must be 'same' or 'valid', got {padding!r}")


def _spec_output_shape(where, kind, spec, shape):
    """Output shape (channels last) of one layer spec."""
    if kind in {"conv2d", "depthwise_conv2d", "separable_conv2d", "max_pool2d", "avg_pool2d"}:
        if len(shape) != 3:
            raise ValueError(f"{where}: needs a (height, width, channels) input, got {shape}")
        if kind.endswith("pool2d"):
            window = _pair(spec.get("pool_size", 2), f"{where} pool_size")
        elif "kernel_size" in spec:
            window = _pair(spec["kernel_size"], f"{where} kernel_size")
        else:
            raise ValueError(f"{where}: a {kind} layer needs a kernel_size")
        default = window if kind.endswith("pool2d") else 1
        strides = _pair(spec.get("strides") or default, f"{where} strides")
        padding = spec.get("padding", "valid")
        size = [
            _same_or_valid(n, w, s, padding, where)
            for n, w, s in zip(shape[:2], window, strides, strict=True)
        ]
        channels = {
            "conv2d": spec.get("filters"),
            "separable_conv2d": spec.get("filters"),
            "depthwise_conv2d": shape[2] * spec.get("depth_multiplier", 1),
        }.get(kind, shape[2])
        return (*size, _positive_int(channels, f"{where} filters"))
    if kind == "dense":
        return (*shape[:-1], _positive_int(spec.get("units"), f"{where} units"))
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
    shape = tuple(_positive_int(n, "input_shape entries") for n in input_shape)
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


def estimate(model, input_shape=None) -> Budget:
    """The budget of a Keras model, a PyTorch module or a list of layer specs.

    ``input_shape`` has no batch axis: (channels, height, width) for PyTorch, (height, width,
    channels) for specs; a Keras model with an ``Input`` knows its own.
    """
    if isinstance(model, (list, tuple)):
        return from_specs(model, input_shape)
    modules = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if "torch" in modules:
        from cnnkit.budget_trace import trace_torch

        return trace_torch(model, input_shape)
    if "keras" in modules:
        from cnnkit.budget_trace import trace_keras

        return trace_keras(model, input_shape)
    raise TypeError(
        f"model must be a keras model, a torch.nn.Module or a list of layer specs, got {type(model).__name__}"
    )
