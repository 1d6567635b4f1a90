"""cnnkit._checks: one set of argument checks, so that every public function treats numbers alike.

NumPy integers (sizes read from arrays) are accepted everywhere a positive int is, bools nowhere,
and the message names the argument.
"""

import numpy as np
import pytest

from cnnkit import _checks
from cnnkit.budget import estimate
from cnnkit.conv import conv_output_size
from cnnkit.receptive import receptive_fields

SPECS = [{"type": "conv2d", "filters": 4, "kernel_size": 3}]


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_python_and_numpy_integers_are_ints(value):
    assert _checks.positive_int(value, "n") == 3 and type(_checks.positive_int(value, "n")) is int
    assert _checks.non_negative_int(value, "n") == 3
    assert _checks.pair(value, "size") == (3, 3)
    assert _checks.positive_ints([value, value], "shape") == (3, 3)


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None, 0, -2])
def test_bools_floats_strings_and_non_positive_values_are_not(value):
    with pytest.raises(ValueError, match=r"^kernel_size must be a positive int, got "):
        _checks.positive_int(value, "kernel_size")


def test_each_check_names_the_argument_and_what_it_expected():
    with pytest.raises(ValueError, match=r"^depth_radius must be a non-negative int, got -1$"):
        _checks.non_negative_int(-1, "depth_radius")
    with pytest.raises(ValueError, match=r"^channel must be an int in \[0, 4\), got 4$"):
        _checks.int_in_range(4, 0, 4, "channel")
    with pytest.raises(ValueError, match=r"^strides must be a positive int or a pair"):
        _checks.pair((1, 2, 3), "strides")
    with pytest.raises(ValueError, match=r"^input_shape must be 3 positive ints, got \(1, 2\)$"):
        _checks.positive_ints((1, 2), "input_shape", length=3)
    with pytest.raises(ValueError, match=r"^input_shape entries must be a positive int, got 0$"):
        _checks.positive_ints((1, 0, 2), "input_shape")
    with pytest.raises(ValueError, match=r"^dtype must be one of 'float32', 'float16', got 'x'$"):
        _checks.one_of("x", ("float32", "float16"), "dtype")
    assert _checks.positive_int_args(filters=np.int64(8), strides=2) == (8, 2)
    with pytest.raises(ValueError, match=r"^images must be 4-D \(batch, height"):
        _checks.array_4d(np.zeros((2, 3)), "images", "batch, height, width, channels")


@pytest.mark.parametrize(
    "call",
    [
        lambda n: conv_output_size(n, 3),
        lambda n: receptive_fields([(3, 1)], input_size=n),
        lambda n: estimate(SPECS, (8, 8, 3)).kept_bytes(batch_size=n),  # it once refused np.int64
        lambda n: estimate(SPECS, (n, 8, 3)),
    ],
    ids=["conv", "receptive", "budget batch size", "budget input shape"],
)
def test_public_functions_agree_on_what_an_int_is(call):
    call(np.int64(8))
    with pytest.raises(ValueError, match="must be a positive int, got True"):
        call(True)
