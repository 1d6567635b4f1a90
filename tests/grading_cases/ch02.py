"""Chapter 2 (convolution math): the grading proof's data. One batch of 8 submissions, about 2 minutes.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells.
"""

from grading_proofs import Assignment

ASSIGNMENT = "02_convolution_math"
POINTS = {
    "conv_output_size_visible": 1,
    "conv_output_size_hidden": 2,
    "conv_output_size_bad_padding_hidden": 1,
    "my_layers_visible": 1,
    "my_layers_shapes_hidden": 1,
    "my_layers_count_hidden": 1,
    "conv2d_valid_visible": 1,
    "conv2d_same_stride_bias_visible": 1,
    "conv2d_shapes_hidden": 1,
    "conv2d_channels_hidden": 2,
    "conv2d_stride_hidden": 2,
    "conv2d_same_padding_hidden": 2,
    "conv2d_bias_hidden": 1,
    "conv2d_speed_hidden": 2,
    "pooling_visible": 1,
    "max_pool_hidden": 1,
    "avg_pool_hidden": 1,
    "depthwise_visible": 1,
    "depthwise_hidden": 1,
    "depthwise_error_hidden": 1,
    "shift_right_visible": 1,
    "shift_right_hidden": 1,
    "agreement_visible": 1,
    "agreement_hidden": 1,
    "pooled_cells_hidden": 1,
}
TOTAL = 30
MANUAL = "pooling_vs_strided_conv_answer"
CONV2D_CELLS = [gid for gid in POINTS if gid.startswith("conv2d_")]

REFERENCE, variant = Assignment(ASSIGNMENT).reference, Assignment(ASSIGNMENT).variant


CONV2D_NCHW = """
def conv2d(inputs, kernels, bias=None, stride=1, padding="valid"):
    x = np.asarray(inputs, dtype=np.float64)  # read as (batch, channels, height, width)
    w = np.asarray(kernels, dtype=np.float64)  # read as (out, in, kernel_height, kernel_width)
    s_h, s_w = (stride, stride) if np.ndim(stride) == 0 else stride
    f_h, f_w = w.shape[2:]
    if padding.lower() == "same":
        pads = []
        for size, f, s in ((x.shape[2], f_h, s_h), (x.shape[3], f_w, s_w)):
            total = max((-(-size // s) - 1) * s + f - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [(0, 0), (0, 0), *pads])
    windows = np.lib.stride_tricks.sliding_window_view(x, (f_h, f_w), axis=(2, 3))
    z = np.einsum("ncijuv,ocuv->noij", windows[:, :, ::s_h, ::s_w], w)
    return z if bias is None else z + np.asarray(bias)[:, None, None]
"""

CONV2D_SIX_LOOPS = """
def conv2d(inputs, kernels, bias=None, stride=1, padding="valid"):
    x = np.asarray(inputs, dtype=np.float64)
    w = np.asarray(kernels, dtype=np.float64)
    s_h, s_w = (stride, stride) if np.ndim(stride) == 0 else stride
    f_h, f_w, _, f_n = w.shape
    if padding.lower() == "same":
        pads = []
        for size, f, s in ((x.shape[1], f_h, s_h), (x.shape[2], f_w, s_w)):
            total = max((-(-size // s) - 1) * s + f - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_h, out_w = (x.shape[1] - f_h) // s_h + 1, (x.shape[2] - f_w) // s_w + 1
    z = np.zeros((x.shape[0], out_h, out_w, f_n))
    for n in range(x.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                for k in range(f_n):
                    for u in range(f_h):
                        for v in range(f_w):
                            z[n, i, j, k] += x[n, i * s_h + u, j * s_w + v] @ w[u, v, :, k]
    return z if bias is None else z + bias
"""

MAX_POOL_CEIL_MODE = """
def max_pool2d(inputs, pool_size=2, stride=None):
    stride = pool_size if stride is None else stride
    x = np.asarray(inputs, dtype=np.float64)
    extra = [-(size - pool_size) % stride for size in x.shape[1:3]]  # complete the last windows
    x = np.pad(x, [(0, 0), (0, extra[0]), (0, extra[1]), (0, 0)], constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(x, (pool_size, pool_size), axis=(1, 2))
    return windows[:, ::stride, ::stride].max(axis=(-2, -1))
"""

DEPTHWISE_TRUNCATES = """
def depthwise_max_pool(inputs, pool_size):
    x = np.asarray(inputs)
    batch, height, width, channels = x.shape
    channels -= channels % pool_size  # drops the leftover channels without a word
    x = x[..., :channels]
    return x.reshape(batch, height, width, channels // pool_size, pool_size).max(axis=-1)
"""

SHIFT_WRAPS_AROUND = """
def shift_right(images, pixels):
    return np.roll(images, pixels, axis=2)  # the last columns come back on the left
"""

AGREEMENT_WRONG_WAY = """
def agreement(before, after, cells=0):
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        raise ValueError(f"shapes {before.shape} and {after.shape}")
    width = before.shape[2]
    if not 0 <= cells < width:
        raise ValueError(f"cells must be below {width}, got {cells}")
    same = np.isclose(after[:, :, : width - cells], before[:, :, cells:], rtol=0, atol=1e-6)
    return float(same.mean())  # compares the maps moved left, not right
"""

AVG_POOL_REFERENCE = REFERENCE["pooling"][REFERENCE["pooling"].index("def avg_pool2d(") :]

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "flipped": (
        {
            "conv2d": variant(
                "conv2d",
                (
                    "w = np.asarray(kernels, dtype=np.float64)",
                    "w = np.asarray(kernels, dtype=np.float64)[::-1, ::-1]  # a true convolution",
                ),
            ),
            "conv_output_size": variant(
                "conv_output_size",
                (
                    "return -(-input_size // stride)",
                    "return input_size // stride",  # SAME rounded down
                ),
            ),
        },
        {
            "conv2d_valid_visible",
            "conv2d_same_stride_bias_visible",
            "conv2d_channels_hidden",
            "conv2d_stride_hidden",
            "conv2d_same_padding_hidden",
            "conv_output_size_visible",
            "conv_output_size_hidden",
        },
    ),
    "oddside": (
        {
            "conv2d": variant(
                "conv2d",
                (
                    "pads.append((total // 2, total - total // 2))",
                    "pads.append((total - total // 2, total // 2))",  # the odd zero before
                ),
            ),
            "pooling": MAX_POOL_CEIL_MODE + "\n\n" + AVG_POOL_REFERENCE,
            "my_layers": variant(  # "same" padding's sizes for a "valid" convolution
                "my_layers",
                (
                    "(height - KERNEL) // STRIDE + 1, (width - KERNEL) // STRIDE + 1",
                    "-(-height // STRIDE), -(-width // STRIDE)",
                ),
            ),
        },
        {
            "conv2d_same_padding_hidden",
            "pooling_visible",
            "max_pool_hidden",
            "my_layers_shapes_hidden",
        },
    ),
    "nchw": (
        {"conv2d": CONV2D_NCHW, "depthwise_max_pool": DEPTHWISE_TRUNCATES},
        {*CONV2D_CELLS, "depthwise_error_hidden"},
    ),
    "nobias": (
        {
            "conv2d": variant(
                "conv2d",
                (
                    "return z if bias is None else z + np.asarray(bias, dtype=np.float64)",
                    "return z",
                ),
            ),
            "shift_right": SHIFT_WRAPS_AROUND,
        },
        {
            "conv2d_same_stride_bias_visible",
            "conv2d_bias_hidden",
            "shift_right_visible",
            "shift_right_hidden",
        },
    ),
    "nostride": (
        {
            "conv2d": variant(
                "conv2d",
                (
                    "s_h, s_w = (stride, stride) if np.ndim(stride) == 0 else stride",
                    "s_h, s_w = 1, 1",
                ),
            ),
            "agreement": AGREEMENT_WRONG_WAY,
        },
        {
            "conv2d_same_stride_bias_visible",
            "conv2d_shapes_hidden",
            "conv2d_stride_hidden",
            "conv2d_same_padding_hidden",
            "agreement_visible",
            "agreement_hidden",
        },
    ),
    "sixloops": (  # and pooled_cells rounding a 1-pixel shift down to 0 cells
        {
            "conv2d": CONV2D_SIX_LOOPS,
            "pooled_cells": variant(
                "pooled_cells",
                (
                    "return pixels // pool_size if pixels % pool_size == 0 else None",
                    "return pixels // pool_size",
                ),
            ),
            "my_layers": variant(  # the pooling window's field counted in input pixels, not strides
                "my_layers",
                (
                    "receptive_field = KERNEL + (POOL - 1) * STRIDE",
                    "receptive_field = KERNEL + (POOL - 1)",
                ),
            ),
        },
        {"conv2d_speed_hidden", "pooled_cells_hidden", "my_layers_count_hidden"},
    ),
    # Tricks (issue 10): none scores more than the work really done.
    "helper": (  # the test helper of the locked cell, reached without writing `tf.`; SciPy's pooling
        {
            "conv2d": (
                'def conv2d(inputs, kernels, bias=None, stride=1, padding="valid"):\n'
                "    return tf_conv2d(inputs, kernels, bias, stride, padding)\n"
            ),
            "pooling": (
                "import scipy.ndimage\n\n\n"
                "def max_pool2d(inputs, pool_size=2, stride=None):\n"
                "    stride = pool_size if stride is None else stride\n"
                "    size = (1, pool_size, pool_size, 1)\n"
                "    start = (pool_size - 1) // 2\n"
                '    full = scipy.ndimage.maximum_filter(np.asarray(inputs), size=size, mode="nearest")\n'
                "    rows = (np.shape(inputs)[1] - pool_size) // stride + 1\n"
                "    cols = (np.shape(inputs)[2] - pool_size) // stride + 1\n"
                "    return full[:, start::stride, start::stride][:, :rows, :cols]\n\n\n"
            )
            + AVG_POOL_REFERENCE,
        },
        {*CONV2D_CELLS, "pooling_visible", "max_pool_hidden"},
    ),
    "rebind": (  # a flipped kernel, and the test helper replaced by one that never fails
        {
            "conv2d": variant(
                "conv2d",
                (
                    "w = np.asarray(kernels, dtype=np.float64)",
                    "w = np.asarray(kernels, dtype=np.float64)[::-1, ::-1]",
                ),
            )
            + "\n\ndef assert_close(actual, expected, what):\n    pass\n",
        },
        {
            "conv2d_valid_visible",
            "conv2d_same_stride_bias_visible",
            "conv2d_channels_hidden",
            "conv2d_stride_hidden",
            "conv2d_same_padding_hidden",
        },
    ),
}

# An error-path test pays only beside the success-path cells of its function (the test cell's
# `grading.pairs_with`): a function that fails those loses its error-path point too, however it raises.
PAIRS = {
    "conv_output_size_bad_padding_hidden": {"conv_output_size_visible", "conv_output_size_hidden"},
    "depthwise_error_hidden": {"depthwise_visible", "depthwise_hidden"},
}
SUBMISSIONS = {
    student: (
        answers,
        set(failing) | {cell for cell, needs in PAIRS.items() if needs & set(failing)},
    )
    for student, (answers, failing) in SUBMISSIONS.items()
}
