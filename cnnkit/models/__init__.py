"""Whole networks of chapter 4 in both frameworks: ``cnnkit.models.keras`` and ``cnnkit.models.torch``
build the Fashion-MNIST CNN and ResNets from ``cnnkit.blocks`` with the same names and equal
parameter counts. Keras builders take the input shape (height, width, channels), as
``keras.applications`` does, PyTorch builders the number of input channels; the Keras models end with
a softmax, the PyTorch ones return logits (``CrossEntropyLoss`` adds it). PyTorch also gets
``summary``, the table that Keras models print with their own ``model.summary()``.

This package imports neither framework; each half imports its own.
"""

from __future__ import annotations

from cnnkit._checks import positive_ints

STAGE_FILTERS = (
    64,
    128,
    256,
    512,
)  # the filters of a ResNet's four stages (× 4 out of bottlenecks)


def resnet_units(stage_sizes) -> list[tuple[int, int]]:
    """``(filters, strides)`` of each unit of a ResNet with ``stage_sizes[i]`` units in stage ``i``.

    The first unit of each stage after the first halves the map size (stride 2).
    """
    stage_sizes = positive_ints(stage_sizes, "stage_sizes", length=len(STAGE_FILTERS))
    return [
        (filters, 2 if stage and unit == 0 else 1)
        for stage, (filters, count) in enumerate(zip(STAGE_FILTERS, stage_sizes, strict=True))
        for unit in range(count)
    ]
