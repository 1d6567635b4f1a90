"""Measuring memory, to check the budget calculator: what autograd keeps, and GPU peak counters.

``to_keras`` and ``to_torch`` build the network of a list of layer specs in each framework, so that
what the calculator computes for the specs can be measured.

``measure_saved_tensors`` counts the bytes that PyTorch's autograd keeps for backward during one
forward pass (it works on the CPU); ``measure_peak_torch`` and ``measure_peak_tf`` read the
frameworks' own peak-memory counters when a GPU is present (and return None otherwise).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from cnnkit.budget import from_specs


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
    import torch

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
    modes = {m: m.training for m in model.modules()}
    device = inputs.device.type
    autocast = torch.autocast(device, dtype=torch.float16 if device == "cuda" else torch.bfloat16)
    try:
        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with autocast if mixed_precision else contextlib.nullcontext():
                output = forward(model, inputs) if forward else model(inputs)
        del output
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for m, mode in modes.items():
            m.training = mode
    by_dtype = {}
    for nbytes, dtype in found.values():
        by_dtype[dtype] = by_dtype.get(dtype, 0) + nbytes
    return SavedTensors(sum(by_dtype.values()), by_dtype, len(found))


def measure_peak_torch(model, inputs, *, train: bool = True):
    """Peak bytes held by PyTorch's CUDA allocator during a forward (and backward) pass, or None on the CPU.

    The peak includes what was already on the GPU (the parameters); gradients are freed after.
    """
    import torch

    if inputs.device.type != "cuda":
        return None
    torch.cuda.synchronize(inputs.device)
    torch.cuda.reset_peak_memory_stats(inputs.device)
    model.train(train)
    with contextlib.nullcontext() if train else torch.no_grad():
        output = model(inputs)
        if train:
            output.float().sum().backward()
    torch.cuda.synchronize(inputs.device)
    peak = torch.cuda.max_memory_allocated(inputs.device)
    model.zero_grad(set_to_none=True)
    return peak


def measure_peak_tf(model, inputs, *, train: bool = True):
    """Peak bytes TensorFlow allocated on the first GPU during a forward (and backward) pass, or None."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    tf.config.experimental.reset_memory_stats("GPU:0")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(model(inputs, training=train), tf.float32))
    if train:
        tape.gradient(loss, model.trainable_variables)
    return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def to_keras(specs, input_shape):
    """A ``keras.Sequential`` model made from layer specs (the arguments are Keras's own names)."""
    import keras
    from keras import layers

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


def _torch_padding(padding, window, where):
    if padding == "valid":
        return 0
    if any(size % 2 == 0 for size in window):
        raise ValueError(
            f"{where}: 'same' padding with an even window has no PyTorch equivalent here"
        )
    return tuple(size // 2 for size in window)  # gives TF's "same" output size for odd windows


def to_torch(specs, input_shape):
    """An ``nn.Sequential`` equal in parameters and shapes to ``to_keras(specs, input_shape)``.

    ``input_shape`` is channels last, as for the specs; the module takes (batch, channels, height,
    width). "same" padding needs odd kernel and pool sizes.
    """
    from torch import nn

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
                raise ValueError(f"{where}: to_torch needs a flatten before a dense layer")
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
                raise ValueError(f"{where}: to_torch does not know the activation {activation!r}")
            modules.append(acts[activation]())
    return nn.Sequential(*modules)
