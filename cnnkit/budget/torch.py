"""The budget calculator's PyTorch half: read a module, build one from layer specs, measure memory.

``trace`` reads a module's layers into a ``Budget`` (``cnnkit.budget.estimate`` calls it for a
module); ``build`` makes the ``nn.Sequential`` of a list of layer specs, so that what the calculator
computes for the specs can be measured. ``measure_saved_tensors`` counts the bytes that autograd
keeps for backward during one forward pass (it works on the CPU; PyTorch only: Keras has no such
hook); ``measure_peak`` reads the CUDA allocator's peak counter (None on the CPU).
``checkpointed_kept_bytes`` computes what gradient checkpointing keeps. ``cnnkit.budget.keras``
has the same names for Keras. Importing this module imports PyTorch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from cnnkit._checks import positive_ints
from cnnkit.budget._records import checkpoint_starts, kept_with_checkpoints
from cnnkit.budget._specs import from_specs
from cnnkit.budget._torch_trace import in_mode, trace

__all__ = [
    "SavedTensors",
    "build",
    "checkpointed_kept_bytes",
    "measure_peak",
    "measure_saved_tensors",
    "trace",
]


@dataclass(frozen=True)
class SavedTensors:
    """What autograd kept for backward after one forward pass: bytes in all and by dtype."""

    bytes: int
    by_dtype: dict
    count: int  # distinct storages


def measure_saved_tensors(
    model, inputs, *, mixed_precision: bool = False, forward=None
) -> SavedTensors:
    """Bytes of the distinct storages that autograd saves during one training-mode forward pass.

    Each tensor handed to ``torch.autograd.graph.saved_tensors_hooks`` is counted once per storage
    (views share one), leaving out the parameters and buffers themselves. ``mixed_precision`` runs
    the pass under autocast (bfloat16 on the CPU, float16 on CUDA). ``forward(model, inputs)``
    replaces the plain call, e.g. to checkpoint segments. Batch-norm statistics are restored after.
    """
    model_state = {id(t) for t in [*model.parameters(), *model.buffers()]}
    exclude = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    found = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if id(tensor) not in model_state and address not in exclude and address not in found:
            found[address] = (storage.nbytes(), str(tensor.dtype).removeprefix("torch."))
        return tensor

    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    device = inputs.device.type
    autocast = torch.autocast(device, dtype=torch.float16 if device == "cuda" else torch.bfloat16)
    try:
        with (
            in_mode(model, training=True),
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        ):
            with autocast if mixed_precision else contextlib.nullcontext():
                output = forward(model, inputs) if forward else model(inputs)
        del output
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    by_dtype = {}
    for nbytes, dtype in found.values():
        by_dtype[dtype] = by_dtype.get(dtype, 0) + nbytes
    return SavedTensors(sum(by_dtype.values()), by_dtype, len(found))


def measure_peak(model, inputs, *, train: bool = True):
    """Peak bytes held by PyTorch's CUDA allocator during a forward (and backward) pass, or None
    when ``inputs`` are not on a CUDA device.

    The peak includes what was already on the GPU (the parameters); gradients are freed after.
    """
    if inputs.device.type != "cuda":
        return None
    torch.cuda.synchronize(inputs.device)
    torch.cuda.reset_peak_memory_stats(inputs.device)
    with in_mode(model, training=train), contextlib.nullcontext() if train else torch.no_grad():
        output = model(inputs)
        if train:
            output.float().sum().backward()
    torch.cuda.synchronize(inputs.device)
    peak = torch.cuda.max_memory_allocated(inputs.device)
    model.zero_grad(set_to_none=True)
    return peak


def _torch_padding(padding, window, where):
    if padding == "valid":
        return 0
    if any(size % 2 == 0 for size in window):
        raise ValueError(
            f"{where}: 'same' padding with an even window has no PyTorch equivalent here"
        )
    return tuple(size // 2 for size in window)  # gives TF's "same" output size for odd windows


def build(specs, input_shape):
    """An ``nn.Sequential`` equal in parameters and shapes to ``cnnkit.budget.keras.build(specs,
    input_shape)``.

    ``input_shape`` is channels last, as for the specs; the module takes (batch, channels, height,
    width). "same" padding needs odd kernel and pool sizes.
    """
    budget = from_specs(specs, input_shape)
    shapes = [tuple(input_shape)] + [record.output_shape for record in budget.layers]
    acts = {
        "relu": nn.ReLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "softmax": lambda: nn.Softmax(dim=1),
    }
    modules = []
    for spec, shape, record in zip(specs, shapes, budget.layers, strict=False):
        kind, where, channels = spec["type"], f"layer {record.name!r}", shape[-1]
        window = spec.get("kernel_size", spec.get("pool_size", 2))
        window = (window, window) if isinstance(window, int) else tuple(window)
        stride = spec.get("strides") or (window if kind.endswith("pool2d") else 1)
        padding = _torch_padding(spec.get("padding", "valid"), window, where)
        bias = spec.get("use_bias", True)
        if kind == "conv2d":
            modules.append(
                nn.Conv2d(
                    channels,
                    spec["filters"],
                    window,
                    stride,
                    padding,
                    groups=spec.get("groups", 1),
                    bias=bias,
                )
            )
        elif kind in {"depthwise_conv2d", "separable_conv2d"}:
            depth = channels * spec.get("depth_multiplier", 1)
            modules.append(
                nn.Conv2d(
                    channels,
                    depth,
                    window,
                    stride,
                    padding,
                    groups=channels,
                    bias=bias and kind == "depthwise_conv2d",
                )
            )
            if kind == "separable_conv2d":
                modules.append(nn.Conv2d(depth, spec["filters"], 1, bias=bias))
        elif kind == "dense":
            if len(shape) != 1:
                raise ValueError(f"{where}: build needs a flatten before a dense layer")
            modules.append(nn.Linear(channels, spec["units"], bias=bias))
        elif kind == "max_pool2d":
            modules.append(nn.MaxPool2d(window, stride, padding))
        elif kind == "avg_pool2d":
            modules.append(nn.AvgPool2d(window, stride, padding, count_include_pad=False))
        elif kind == "global_avg_pool2d":
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif kind == "batch_norm":
            modules.append(
                nn.BatchNorm2d(channels) if len(shape) == 3 else nn.BatchNorm1d(channels)
            )
        elif kind == "flatten":
            modules.append(nn.Flatten())
        elif kind == "dropout":
            modules.append(nn.Dropout(spec.get("rate", 0.5)))
        activation = spec.get("activation") or "linear"
        if activation != "linear":
            if activation not in acts:
                raise ValueError(f"{where}: build does not know the activation {activation!r}")
            modules.append(acts[activation]())
    return nn.Sequential(*modules)


def checkpointed_kept_bytes(
    model, segments: int, batch_size: int, input_shape=None, dtype: str = "float32"
) -> int:
    """Bytes kept for backprop when an ``nn.Sequential`` runs in checkpointed segments.

    The split is ``torch.utils.checkpoint.checkpoint_sequential``'s: runs of ``len // segments``
    layers, the last run taking the rest. A checkpointed run keeps only its input (its inside is
    recomputed during backprop); the last run is not checkpointed and keeps what it always keeps.
    ``input_shape``: one input's shape, e.g. (1, 28, 28).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    layers = list(model)
    starts = checkpoint_starts(len(layers), segments)
    x = torch.zeros((1, *positive_ints(input_shape, "input_shape", what="one input's shape")))
    shapes = []
    with in_mode(model, training=False), torch.no_grad():
        for layer in layers:  # the input shape of each layer, found by running zeros through
            shapes.append(tuple(x.shape[1:]))
            x = layer(x)
    tail = trace(nn.Sequential(*layers[starts[-1] :]), shapes[starts[-1]])
    return kept_with_checkpoints(shapes, starts, tail, batch_size, dtype)
