"""Chapter 4's building blocks in both frameworks: ``cnnkit.blocks.keras`` (Keras layers) and
``cnnkit.blocks.torch`` (PyTorch modules) export the same names with the same arguments, except that
a PyTorch block takes the number of input channels first (as ``nn.Conv2d`` does) where a Keras layer
reads it from its input when it is built. Both count the same parameters.

Residual and bottleneck units, squeeze-and-excitation, the inception module, local response
normalization, ``count_parameters`` and ``batch_norm`` (batch normalization with the same defaults in
both); PyTorch also gets ``SeparableConv2D``, which Keras has as ``keras.layers.SeparableConv2D``.
This package imports neither framework; each half imports its own.
"""

from __future__ import annotations

from cnnkit._checks import positive_int

INCEPTION_FILTERS = (
    "filters_1x1",
    "filters_3x3_reduce",
    "filters_3x3",
    "filters_5x5_reduce",
    "filters_5x5",
    "filters_pool",
)  # the inception module's filter counts, in the order both halves take them


def inception_filters(*counts) -> dict[str, int]:
    """The six filter counts of an inception module by name (``INCEPTION_FILTERS``), checked."""
    if len(counts) != len(INCEPTION_FILTERS):
        raise ValueError(f"an inception module takes {len(INCEPTION_FILTERS)} filter counts")
    return {name: positive_int(n, name) for name, n in zip(INCEPTION_FILTERS, counts, strict=True)}
