"""Chapter 3 (memory budgets): the grading proof's data. One batch of 7 submissions, about 2 minutes.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. A mistake in
an early part of exercise 1 also costs the later parts that reuse its numbers, as it would by hand.
"""

from grading_proofs import Assignment

ASSIGNMENT = "03_memory_budgets"
POINTS = {
    "parameters_visible": 1,
    "parameters_hidden": 1,
    "feature_maps_visible": 1,
    "feature_maps_hidden": 1,
    "prediction_visible": 1,
    "prediction_hidden": 1,
    "training_visible": 1,
    "training_hidden": 1,
    "remedies_visible": 1,
    "remedies_which_hidden": 1,
    "remedies_how_much_hidden": 2,
    "counter_visible": 1,
    "counter_hidden": 3,
    "training_values_visible": 1,
    "training_values_hidden": 1,
}
TOTAL = 18
MANUAL = "out_of_memory_answer"

variant = Assignment(ASSIGNMENT).variant


SAME_BY_HAND = "height, width = math.ceil(height / 2), math.ceil(width / 2)"
SAME_IN_COUNTER = "height, width = math.ceil(height / stride), math.ceil(width / stride)"
CONV_PARAMS = 'params = (size * size * channels + 1) * layer["filters"]'
COUNTER_CELLS = {"counter_visible", "counter_hidden"}
VALUES_CELLS = {"training_values_visible", "training_values_hidden"}

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "nobias": (
        {
            "parameters": variant(
                "parameters",
                (
                    "(kernel_size * kernel_size * depth_in + 1) * depth_out",
                    "kernel_size * kernel_size * depth_in * depth_out",
                ),
            ),
            "cnn_counter": variant(
                "cnn_counter", (CONV_PARAMS, 'params = size * size * channels * layer["filters"]')
            ),
        },
        {"parameters_visible", "parameters_hidden", *COUNTER_CELLS},
    ),
    "valid": (
        {  # "same" padding computed as "valid", and as a floor in the counter
            "feature_maps": variant(
                "feature_maps",
                (SAME_BY_HAND, "height, width = (height - 3) // 2 + 1, (width - 3) // 2 + 1"),
            ),
            "cnn_counter": variant(
                "cnn_counter",
                (SAME_IN_COUNTER, "height, width = height // stride, width // stride"),
            ),
        },
        {
            "feature_maps_visible",
            "feature_maps_hidden",
            "prediction_hidden",
            "training_hidden",
            "counter_hidden",
            "training_values_hidden",
        },
    ),
    "noparams": (
        {  # memory without the parameters; dropout believed to save memory
            "prediction": variant(
                "prediction",
                ("prediction_mb = largest_pair + parameters_mb", "prediction_mb = largest_pair"),
            ),
            "training": variant(
                "training", ("training_mb = kept_mb + parameters_mb", "training_mb = kept_mb")
            ),
            "remedies": variant(
                "remedies",
                (
                    'reduces = {change for change, mb in memory_mb.items() if mb < memory_mb["base"]}',
                    'reduces = {"A", "B", "C", "D", "F"}  # dropout switches values off',
                ),
            ),
        },
        {"prediction_hidden", "training_hidden", "remedies_which_hidden"},
    ),
    "mebibytes": (
        {  # MiB instead of MB, gradients counted, pure float16 for mixed precision, flatten counted
            "prediction": variant(
                "prediction",
                (
                    "prediction_mb = largest_pair + parameters_mb",
                    "prediction_mb = (largest_pair + parameters_mb) * MB / 2**20",
                ),
            ),
            "training": variant(
                "training",
                (
                    "training_mb = kept_mb + parameters_mb",
                    "training_mb = kept_mb + 2 * parameters_mb",
                ),
            ),
            "remedies": variant(
                "remedies",
                (
                    '"F": step_mb(base_specs, dtype="bfloat16", mixed=True)',
                    '"F": step_mb(base_specs, dtype="float16")',
                ),
            ),
            "cnn_counter": variant(
                "cnn_counter",
                (
                    'if layer["type"] != "flatten":\n            total += math.prod(shape)',
                    "total += math.prod(shape)",
                ),
            ),
        },
        {"prediction_hidden", "training_hidden", "remedies_how_much_hidden", *VALUES_CELLS},
    ),
    "poolstride": (
        {  # pooling windows that slide one pixel at a time by default
            "cnn_counter": variant(
                "cnn_counter",
                (
                    'stride = layer.get("strides") or (1 if kind == "conv2d" else size)',
                    'stride = layer.get("strides") or 1',
                ),
            )
        },
        {*COUNTER_CELLS, *VALUES_CELLS},
    ),
    # Tricks (issue 10): the calculator answering the exercises that ask for work by hand.
    "calculator": (
        {
            "cnn_counter": (
                "from cnnkit.budget import from_specs as _specs\n\n\n"
                "def count_cnn(layers, input_shape):\n"
                "    budget = _specs(layers, input_shape)\n"
                "    return [(r.output_shape, r.params + r.non_trainable) for r in budget.layers]\n\n\n"
                "def training_values(layers, input_shape):\n"
                "    return math.prod(input_shape) + sum(\n"
                "        math.prod(shape) for layer, (shape, _) in zip(layers, count_cnn(layers, input_shape))\n"
                '        if layer["type"] != "flatten"\n'
                "    )\n"
            ),
            "parameters": (
                "from cnnkit.budget import estimate as _estimate\n\n"
                '_layers = [dict(type="conv2d", filters=f, kernel_size=3, strides=2, padding="same") for f in (100, 200, 400)]\n'
                "layer_params = [r.params for r in _estimate(_layers, (200, 300, 3)).layers]\n"
                "total_params = sum(layer_params)\n"
            ),
        },
        {
            *COUNTER_CELLS,
            *VALUES_CELLS,
            "parameters_visible",
            "parameters_hidden",
            "prediction_visible",  # later parts reuse total_params
            "prediction_hidden",
            "training_visible",
            "training_hidden",
        },
    ),
}
