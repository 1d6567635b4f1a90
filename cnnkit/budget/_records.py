"""The budget's records: one ``LayerBudget`` per layer, ``Memory`` by purpose, the ``Budget`` of a network.

Everything here is plain arithmetic on the counts that ``cnnkit.budget._graph.Graph`` collects; see
``cnnkit.budget`` for what the counts mean. Units are SI: 1 MB = 10**6 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnkit._checks import int_in_range, one_of, positive_int

MB = 10**6  # SI megabyte
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # values kept per parameter


def dtype_bytes(dtype: str) -> int:
    """Bytes per value of ``dtype`` ("float32", "float16" or "bfloat16")."""
    return DTYPE_BYTES[one_of(dtype, tuple(DTYPE_BYTES), "dtype")]


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
        batch_size = positive_int(batch_size, "batch_size")
        return Memory(
            (self.params + self.non_trainable) * size,
            batch_size * self.inference_peak_values * size,
        )

    def kept_bytes(
        self, batch_size: int = 1, dtype: str = "float32", mixed_precision: bool = False
    ) -> int:
        """Bytes that backprop keeps from the forward pass (what ``measure_saved_tensors`` counts)."""
        batch_size = positive_int(batch_size, "batch_size")
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
        one_of(optimizer, tuple(OPTIMIZER_STATES), "optimizer")
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
        size = dtype_bytes(dtype) * positive_int(batch_size, "batch_size")
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


def checkpoint_starts(layer_count: int, segments: int) -> list[int]:
    """Where each run of ``torch.utils.checkpoint.checkpoint_sequential`` starts, the last one included.

    Runs of ``layer_count // segments`` layers; the last run takes the rest.
    """
    segments = int_in_range(segments, 1, layer_count + 1, "segments")
    size = layer_count // segments
    return list(range(0, size * segments, size))


def kept_with_checkpoints(input_shapes, starts, tail: Budget, batch_size, dtype) -> int:
    """Bytes kept for backprop when a plain stack runs in the checkpointed runs that begin at ``starts``.

    ``input_shapes``: the input shape of every layer; ``tail``: the budget of the last run. A
    checkpointed run keeps only its input (its inside is recomputed during backprop); the last run is
    not checkpointed and keeps what it always keeps. Both halves of ``cnnkit.budget`` call this.
    """
    kept_inputs = sum(math.prod(input_shapes[start]) for start in starts[:-1])
    return batch_size * kept_inputs * dtype_bytes(dtype) + tail.kept_bytes(batch_size, dtype)
