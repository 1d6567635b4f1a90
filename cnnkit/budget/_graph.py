"""The core of the budget calculator: the rules per layer type, and a graph that applies them.

Every front end (layer specs, a traced PyTorch module, a traced Keras model) hands each layer call
to a ``Graph``: which tensors go in, what comes out, their shapes. The graph follows the tensors'
storages to count what backprop keeps once per storage, and their lifetimes to find the inference
peak; ``layer_rule`` says what one layer costs and keeps (see ``cnnkit.budget``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cnnkit._checks import pair
from cnnkit.budget._records import Budget, LayerBudget

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


def flatten_nested(items) -> list:
    """The leaves of nested lists, tuples and dicts (a layer call's tensors among its arguments)."""
    if isinstance(items, dict):
        items = list(items.values())
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in flatten_nested(item)]
    return [items]


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
            taps = math.prod(pair(config["kernel_size"], f"layer {name!r} kernel_size"))
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
