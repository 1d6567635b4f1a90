"""Memory and compute budgets of CNNs: parameters, multiply-accumulates, activations and bytes.

The package: ``cnnkit.budget`` (this module) holds the records and ``estimate``, framework-free;
``cnnkit.budget.keras`` and ``cnnkit.budget.torch`` read, build and measure models of each framework
with the same names (``trace``, ``build``, ``measure_peak``, ``checkpointed_kept_bytes``);
PyTorch also has ``measure_saved_tensors``, which reads autograd's saved tensors (Keras has no
such hook). The halves import their framework; this module imports neither.

``estimate(model)`` takes a Keras model, a PyTorch module (with ``input_shape``, no batch axis) or a
list of layer specs (dicts, channels last, with ``input_shape=(height, width, channels)``) and
returns a ``Budget``: one ``LayerBudget`` record per layer, totals, and the memory for inference and
for training at a batch size. Units are SI: 1 MB = 10**6 bytes.

What "kept for backprop" means. The training estimate counts the tensors that PyTorch's autograd
saves during the forward pass (as ``cnnkit.budget.torch.measure_saved_tensors`` measures them),
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

from cnnkit.budget._graph import KINDS, SPEC_KEYS
from cnnkit.budget._records import MB, Budget, LayerBudget, Memory, dtype_bytes
from cnnkit.budget._specs import from_specs

__all__ = [
    "KINDS",
    "MB",
    "SPEC_KEYS",
    "Budget",
    "LayerBudget",
    "Memory",
    "dtype_bytes",
    "estimate",
    "from_specs",
]


def framework_of(model) -> str | None:
    """``"torch"`` for a PyTorch module, ``"keras"`` for a Keras model or layer, else None.

    Read from the classes' modules, so that neither framework is imported to find out.
    """
    modules = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    return next((name for name in ("torch", "keras") if name in modules), None)


def estimate(model, input_shape=None) -> Budget:
    """The budget of a Keras model, a PyTorch module or a list of layer specs.

    ``input_shape`` has no batch axis: (channels, height, width) for PyTorch, (height, width,
    channels) for specs; a Keras model with an ``Input`` knows its own.
    """
    if isinstance(model, (list, tuple)):
        return from_specs(model, input_shape)
    # The halves are imported here, not at the top: each imports its framework (seconds), and a
    # model of one framework needs only its own half. Neither half imports this module back.
    if framework_of(model) == "torch":
        from cnnkit.budget import torch as half
    elif framework_of(model) == "keras":
        from cnnkit.budget import keras as half
    else:
        raise TypeError(
            "model must be a keras model, a torch.nn.Module or a list of layer specs, "
            f"got {type(model).__name__}"
        )
    return half.trace(model, input_shape)
