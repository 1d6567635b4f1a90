"""Reading a PyTorch module for the budget calculator (``cnnkit.budget.torch.trace``).

``trace`` runs one instance of zeros through the module (inference mode, no gradients) and hands each
layer call (which tensors go in, what comes out, their shapes) to ``cnnkit.budget._graph.Graph``.
Leaf modules are seen through forward hooks; the functions called in a ``forward`` outside the leaf
modules (``F.relu(x + skip)``, ``torch.cat``, ``x.mean(...)``) through a ``TorchFunctionMode``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnkit._checks import positive_ints
from cnnkit.budget._graph import VIEWS, Graph, flatten_nested
from cnnkit.budget._records import Budget, LayerBudget

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
_TORCH_OPS = {  # functions and tensor methods called in a forward, by name
    **dict.fromkeys(
        "add add_ __add__ __radd__ __iadd__ sub sub_ __sub__ __rsub__ __isub__".split(), "add"
    ),
    **dict.fromkeys(
        "mul mul_ __mul__ __rmul__ __imul__ div div_ __truediv__ __itruediv__".split(), "multiply"
    ),
    **dict.fromkeys("cat concat concatenate".split(), "concatenate"),
    **dict.fromkeys("flatten view reshape __getitem__ unsqueeze squeeze".split(), "reshape"),
    **dict.fromkeys("contiguous clone to float detach".split(), "pointwise"),
    **{op: op for op in "mean max_pool2d avg_pool2d dropout adaptive_avg_pool2d".split()},
    "pad": "zero_padding2d",
}
_TORCH_OP_ACTIVATIONS = {  # relu_ and sigmoid_ work in place
    **{op: op for op in "relu sigmoid tanh softmax gelu silu leaky_relu elu".split()},
    "relu_": "relu",
    "sigmoid_": "sigmoid",
}


@contextlib.contextmanager
def in_mode(module, training: bool):
    """Run the block with ``module`` in train (or eval) mode; put every submodule's mode back after."""
    modes = {m: m.training for m in module.modules()}
    module.train(training)
    try:
        yield module
    finally:
        for m, mode in modes.items():
            m.training = mode


def _torch_module_kind(name: str, module):
    """(kind, config) of a PyTorch leaf module."""
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


def trace(model, input_shape=None) -> Budget:
    """The budget of a PyTorch module; ``input_shape`` is one input's shape, e.g. (3, 224, 224)."""
    if input_shape is None:
        raise ValueError(
            "input_shape is missing: a PyTorch module needs the shape of one input, e.g. (3, 224, 224)"
        )
    shape = positive_ints(
        input_shape, "input_shape", what="a tuple of positive ints (no batch axis)"
    )
    names = {m: n or type(model).__name__ for n, m in model.named_modules()}
    leaves = {m for m in names if not list(m.children())}
    for m, name in names.items():
        if m not in leaves and list(m.parameters(recurse=False)):
            raise ValueError(
                f"layer {name!r} ({type(m).__name__}) holds parameters beside its submodules: "
                "the calculator cannot tell what it computes with them"
            )
    first = next(model.parameters(), None)
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
            tensors = [
                t for t in flatten_nested([args, kwargs or {}]) if isinstance(t, torch.Tensor)
            ]
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

    handles = [
        h
        for m in names
        for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))
    ]
    try:
        with in_mode(model, training=False), torch.no_grad(), Operations():
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    for m in sorted(leaves - called, key=lambda m: names[m]):  # never called, but counted
        count = sum(p.numel() for p in m.parameters())
        if count:
            _torch_module_kind(names[m], m)
            graph.records.append(
                LayerBudget(f"{names[m]} (not called)", "unused", (), count, 0, 0, 0, 0)
            )
    return graph.finish([key_of(output)] if isinstance(output, torch.Tensor) else [])
