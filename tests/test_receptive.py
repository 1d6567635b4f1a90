"""The receptive-field calculator: hand-computed values, bad input, and agreement with PyTorch and Keras."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.receptive import (
    LayerField,
    measure_receptive_field_keras,
    measure_receptive_field_torch,
    receptive_field_size,
    receptive_fields,
)

# Worked by hand with r = r_prev + (dilation * (k - 1)) * jump_prev, jump = jump_prev * stride.
KNOWN = [
    ([], 1),  # a pixel sees itself
    ([(3, 1)], 3),
    ([(3, 1), (3, 1)], 5),  # two 3x3 convs see as much as one 5x5
    ([(3, 1), (3, 1), (3, 1)], 7),
    ([(3, 1), (2, 2), (3, 1)], 8),  # 3, then 3 + 1*1 = 4, then 4 + 2*2 = 8
    ([(7, 2), (3, 2)], 11),  # 7, then 7 + 2*2
    ([(3, 2), (3, 2), (3, 2)], 15),  # 3, 3 + 2*2 = 7, 7 + 2*4 = 15
    ([(3, 1, 2)], 5),  # a dilated 3x3 spans 5 pixels
    ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),  # 3, 3 + 4, 7 + 8
    ([(5, 1), (2, 2), (5, 1), (2, 2)], 16),  # LeNet-5's conv/pool pattern
]


@pytest.mark.parametrize(("layers", "expected"), KNOWN)
def test_known_receptive_field_sizes(layers, expected):
    assert receptive_field_size(layers) == expected


def test_records_follow_the_stack_layer_by_layer():
    layers = [
        {"name": "conv1", "kernel_size": 3, "stride": 1},
        (2, 2),
        {"kernel_size": 3, "stride": 1},
    ]
    records = receptive_fields(layers, input_size=32)
    assert all(isinstance(record, LayerField) for record in records)
    assert [r.name for r in records] == ["conv1", "layer 2", "layer 3"]
    assert [r.index for r in records] == [0, 1, 2]
    assert [r.receptive_field for r in records] == [3, 4, 8]
    assert [r.jump for r in records] == [1, 2, 2]
    assert [r.output_size for r in records] == [30, 15, 13]
    # With "valid" padding the first neuron's field starts at pixel 0, so its centre is (r - 1) / 2.
    assert [r.start for r in records] == [1.0, 1.5, 3.5]
    assert records[0].kernel_size == 3 and records[1].stride == 2 and records[2].dilation == 1


def test_output_size_is_none_without_input_size_and_dilation_is_kept():
    (record,) = receptive_fields([(3, 1, 4)])
    assert record.output_size is None
    assert (record.dilation, record.receptive_field, record.start) == (4, 9, 4.0)


def test_lists_and_numpy_ints_are_accepted():
    assert receptive_field_size([[3, 1], (np.int64(3), np.int64(1))]) == 5
    rows = [tuple(row) for row in np.array([[3, 1], [2, 2]])]  # entries are np.int64
    assert receptive_fields(rows, input_size=np.int64(9))[-1].output_size == 3


@pytest.mark.parametrize(
    ("layers", "match"),
    [
        ([(0, 1)], r"layers\[0\] kernel_size"),
        ([(3, 1), (3, 0)], r"layers\[1\] stride"),
        ([(3, -2)], r"layers\[0\] stride"),
        ([(3, 1, 0)], r"layers\[0\] dilation"),
        ([(3.0, 1)], r"layers\[0\] kernel_size"),
        ([(True, 1)], r"layers\[0\] kernel_size"),
        ([(3,)], r"layers\[0\] must be \(kernel_size, stride\)"),
        ([(3, 1, 1, 1)], r"got 4 values"),
        ([3, 1], r"layers\[0\] must be a tuple or a dict"),
        ([{"kernel_size": 3}], r"needs the keys"),
        ([{"kernel_size": 3, "stride": 1, "padding": 1}], r"unknown keys \['padding'\]"),
        ("3x3", r"layers must be a sequence"),
        (None, r"layers must be a sequence"),
    ],
)
def test_bad_layers_raise_value_error_naming_the_problem(layers, match):
    with pytest.raises(ValueError, match=match):
        receptive_fields(layers)


def test_bad_input_size_raises():
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        receptive_fields([(3, 1)], input_size=0)
    with pytest.raises(ValueError, match="input_size=6 is too small"):
        receptive_fields([(3, 1), (3, 2), (3, 1)], input_size=6)  # 6 -> 4 -> 1 -> too small


# --- agreement with the frameworks ------------------------------------------------------------
# Each stack: (kind, kernel_size, stride, dilation). Pooling is average pooling: max pooling sends
# the gradient to one pixel per window, which would hide most of the field.
STACKS = {
    "two_3x3": [("conv", 3, 1, 1), ("conv", 3, 1, 1)],
    "conv_pool_conv": [("conv", 3, 1, 1), ("pool", 2, 2, 1), ("conv", 3, 1, 1)],
    "strided": [("conv", 7, 2, 1), ("pool", 3, 2, 1), ("conv", 3, 2, 1)],
    "dilated": [("conv", 3, 1, 1), ("conv", 3, 1, 2), ("pool", 2, 2, 1), ("conv", 3, 1, 4)],
}
INPUT_SIZE = 48


@pytest.fixture(scope="module")
def torch_nn():
    return pytest.importorskip("torch").nn


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def torch_stack(nn, stack, channels=1):
    layers = []
    for kind, kernel_size, stride, dilation in stack:
        if kind == "pool":
            layers.append(nn.AvgPool2d(kernel_size, stride))
            continue
        conv = nn.Conv2d(channels, 2, kernel_size, stride=stride, dilation=dilation)
        nn.init.ones_(conv.weight)
        layers.append(conv)
        channels = 2
    return nn.Sequential(*layers)


def keras_stack(keras, stack, shape):
    layers = [keras.Input(shape=shape)]
    for kind, kernel_size, stride, dilation in stack:
        if kind == "pool":
            layers.append(keras.layers.AveragePooling2D(kernel_size, strides=stride))
        else:
            layers.append(
                keras.layers.Conv2D(
                    2,
                    kernel_size,
                    strides=stride,
                    dilation_rate=dilation,
                    kernel_initializer="ones",
                )
            )
    return keras.Sequential(layers)


@pytest.mark.parametrize("name", sorted(STACKS))
def test_calculator_matches_pytorch_and_keras(name, torch_nn, keras):
    stack = STACKS[name]
    expected = receptive_field_size([(k, s, d) for _, k, s, d in stack])
    size = INPUT_SIZE
    assert measure_receptive_field_torch(torch_stack(torch_nn, stack), (1, size, size)) == (
        expected,
        expected,
    )
    model = keras_stack(keras, stack, (size, size, 1))
    assert measure_receptive_field_keras(model, (size, size, 1)) == (expected, expected)


def test_measurement_on_a_non_square_multichannel_input(torch_nn, keras):
    stack = STACKS["conv_pool_conv"]
    model = torch_stack(torch_nn, stack, channels=3)
    assert measure_receptive_field_torch(model, (3, 20, 31)) == (8, 8)
    model = keras_stack(keras, stack, (20, 31, 3))
    assert measure_receptive_field_keras(model, (20, 31, 3)) == (8, 8)


def test_measurement_rejects_bad_shapes_and_dead_gradients(torch_nn, keras):
    model = torch_stack(torch_nn, STACKS["two_3x3"])
    with pytest.raises(ValueError, match="input_shape must be"):
        measure_receptive_field_torch(model, (1, 1, 16, 16))
    with pytest.raises(ValueError, match="input_shape entries"):
        measure_receptive_field_torch(model, (1, 0, 16))
    dead = torch_nn.Conv2d(1, 1, 3, bias=False)
    torch_nn.init.zeros_(dead.weight)
    with pytest.raises(ValueError, match="gradient is zero"):
        measure_receptive_field_torch(dead, (1, 9, 9))
    model = keras_stack(keras, STACKS["two_3x3"], (16, 16, 1))
    with pytest.raises(ValueError, match="input_shape must be"):
        measure_receptive_field_keras(model, (16, 16))
