"""Appendix A (neural style transfer): the grading proof's data. One batch of 9 submissions (11 with
the judge grader).

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. The style
loss cells run the student's ``style_loss`` with the name ``gram_matrix`` bound to the test's own
Gram matrices, and compare with the formula on those (never with the student's ``gram_matrix``, which
would be an answer key two answers could agree on), so a wrong Gram matrix costs its own points only.

Tricks must score no more than honest work: answers that only reproduce the visible worked
examples (3 points of the 15 of exercises 1-3, Adam's step being the reference's); with the
grader whose tests run in a judge process apart from the kernel (it
enforces the cells' ``grading.forbid`` metadata; the tricks are left out where it is absent), the
Gram matrix imported from ``cnnkit.style`` and the total variation delegated to
``tf.image.total_variation`` (0 points for both; the honest style loss beside them keeps its points,
since it is graded with the test's Gram matrices), and a test helper replaced by one that never fails (no effect: the mistake beside
it loses its points).

The student version's setup cell loads NumPy only (the exercises forbid the frameworks), so that a
kernel starts fast on a loaded machine; the judge imports PyTorch when a test first uses it (the
hidden test's TensorFlow values are numbers there, checked in tests/test_grading.py).
"""

from grading_proofs import REPO, Assignment

ASSIGNMENT = "A_style_transfer"
POINTS = {
    "gram_visible": 1,
    "gram_nhwc_hidden": 2,
    "gram_nchw_hidden": 2,
    "gram_layout_error_hidden": 1,
    "style_visible": 1,
    "style_layers_hidden": 2,
    "style_nchw_hidden": 1,
    "style_mismatch_hidden": 1,
    "tv_visible": 1,
    "tv_hidden": 2,
    "tv_nchw_hidden": 1,
    "adam_visible": 1,
    "adam_hidden": 2,
    "adam_loss_falls_hidden": 1,
}
TOTAL = 19
MANUAL = "gram_keeps_answer"
TIMEOUT = 1200
GRAM_VALUES = {"gram_visible", "gram_nhwc_hidden", "gram_nchw_hidden"}
STYLE_VALUES = {"style_visible", "style_layers_hidden", "style_nchw_hidden"}
TV_VALUES = {"tv_visible", "tv_hidden", "tv_nchw_hidden"}
ADAM_STEPS = {"adam_visible", "adam_hidden"}  # the pixels after each step, compared with PyTorch's
ADAM_VALUES = ADAM_STEPS | {"adam_loss_falls_hidden"}

variant = Assignment(ASSIGNMENT).variant
GRAM_RETURN = "return flat.transpose(0, 2, 1) @ flat / (height * width)"
GRAM_CHECK = """    elif layout != "nhwc":
        raise ValueError(f"layout must be 'nhwc' or 'nchw', got {layout!r}")
"""
STYLE_TERM = "total += weight * np.mean(difference**2)"
STYLE_CHECK = """    if not len(features) == len(targets) == len(weights):
        raise ValueError(
            f"got {len(features)} feature maps, {len(targets)} targets and {len(weights)} weights"
        )
"""
VERTICAL = "vertical = np.abs(x[:, 1:] - x[:, :-1]).sum()"
HORIZONTAL = "horizontal = np.abs(x[:, :, 1:] - x[:, :, :-1]).sum()"
ADAM_STEP = (
    "step = learning_rate * (m / (1 - beta_1**t)) / (np.sqrt(v / (1 - beta_2**t)) + epsilon)"
)
ADAM_CLIP = "return np.clip(x - step, 0.0, 1.0), "

VISIBLE_ONLY = {
    "gram_matrix": """
def gram_matrix(features, layout="nhwc"):
    x = np.asarray(features)
    if x.shape in [(1, 1, 2, 2), (1, 2, 1, 2)]:  # the worked example, in either layout
        return np.array([[[5.0, 7.0], [7.0, 10.0]]])
    channels = x.shape[-1] if layout == "nhwc" else x.shape[1]
    return np.zeros((x.shape[0], channels, channels))  # the right shape, and symmetric
""",
    "style_loss": """
def style_loss(features, targets, weights, layout="nhwc"):
    return 8.0625  # the worked example's answer
""",
    "total_variation_loss": """
def total_variation_loss(images, layout="nhwc"):
    return 7 / 12 if np.shape(images) == (1, 2, 3, 2) else 0.0
""",
}

FRAMEWORKS = {  # the course package's Gram matrix, TensorFlow's total variation
    "gram_matrix": "from cnnkit.style import gram_matrix  # the answer, imported",
    "total_variation_loss": """
import tensorflow as tf


def total_variation_loss(images, layout="nhwc"):
    x = np.asarray(images, dtype=np.float64)
    x = x if layout == "nhwc" else x.transpose(0, 2, 3, 1)
    return float(tf.reduce_sum(tf.image.total_variation(x))) / x.size
""",
}

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "unnormalized": (
        {
            "gram_matrix": variant(
                "gram_matrix", (GRAM_RETURN, "return flat.transpose(0, 2, 1) @ flat")
            ),
            "total_variation_loss": variant(
                "total_variation_loss",
                ("/ x.size", "/ (x.size // x.shape[-1])"),  # per pixel
            ),
            "adam_step": variant(  # no bias correction: the first steps are 3 times too long
                "adam_step", (ADAM_STEP, "step = learning_rate * m / (np.sqrt(v) + epsilon)")
            ),
        },
        GRAM_VALUES | TV_VALUES | ADAM_STEPS,
    ),
    "channels": (
        {
            "gram_matrix": variant(
                "gram_matrix", (GRAM_RETURN, GRAM_RETURN.replace("width)", "width * channels)"))
            ),
            "style_loss": variant("style_loss", (STYLE_TERM, STYLE_TERM.replace("mean", "sum"))),
        },
        GRAM_VALUES | STYLE_VALUES,
    ),
    "nchw": (
        {
            "gram_matrix": variant(
                "gram_matrix",
                (  # reshape for transpose: the right shape, the values scrambled
                    "x = x.transpose(0, 2, 3, 1)",
                    "x = x.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1])",
                ),
            ),
            "total_variation_loss": variant(
                "total_variation_loss",
                (VERTICAL, VERTICAL.replace("np.abs", "np.square")),
                (HORIZONTAL, HORIZONTAL.replace("np.abs", "np.square")),
            ),
        },
        {"gram_visible", "gram_nchw_hidden"} | TV_VALUES,
    ),
    "nochecks": (
        {
            "gram_matrix": variant("gram_matrix", (GRAM_CHECK, "")),
            "style_loss": variant(
                "style_loss",
                (STYLE_CHECK, ""),
                (", strict=True)", ")"),  # zip stops at the shortest
            ),
        },
        {"gram_layout_error_hidden", "style_mismatch_hidden"},
    ),
    "unweighted": (
        {
            "style_loss": variant("style_loss", (STYLE_TERM, "total += np.mean(difference**2)")),
            "total_variation_loss": variant("total_variation_loss", (VERTICAL, "vertical = 0.0")),
            "adam_step": variant("adam_step", (ADAM_CLIP, "return x - step, ")),  # no clipping
        },
        STYLE_VALUES | TV_VALUES | ADAM_VALUES,
    ),
    "layouts": (
        {
            "style_loss": variant("style_loss", ("gram_matrix(maps, layout)", "gram_matrix(maps)")),
            "total_variation_loss": variant(
                "total_variation_loss", ("        x = x.transpose(0, 2, 3, 1)\n", "        pass\n")
            ),
        },
        {"style_nchw_hidden", "tv_nchw_hidden"},
    ),
    "visible_only": (  # Adam's step is the reference's here
        VISIBLE_ONLY,
        set(POINTS) - {"gram_visible", "style_visible", "tv_visible"} - ADAM_VALUES,
    ),
}
if (REPO / "autograder" / "judge.py").exists():  # the grader whose tests run apart from the kernel
    SUBMISSIONS["frameworks"] = (  # grading.forbid: the Gram matrix and total variation score 0
        FRAMEWORKS,
        set(POINTS) - ADAM_VALUES - STYLE_VALUES - {"style_mismatch_hidden"},
    )
    SUBMISSIONS[
        "colluding"
    ] = (  # issue 22, class 4: the style loss agrees with a wrong Gram matrix
        {
            "gram_matrix": (
                "def gram_matrix(features, layout='nhwc'):\n"
                "    x = np.asarray(features)\n"
                "    channels = x.shape[-1] if layout == 'nhwc' else x.shape[1]\n"
                "    return np.zeros((x.shape[0], channels, channels))\n"
            ),
            "style_loss": (  # the formula with those zeros: no Gram matrix of the features at all
                "def style_loss(features, targets, weights, layout='nhwc'):\n"
                "    if not len(features) == len(targets) == len(weights):\n"
                "        raise ValueError('lengths differ')\n"
                "    return float(sum(w * np.mean(np.asarray(t) ** 2) for t, w in zip(targets, weights)))\n"
            ),
        },
        GRAM_VALUES | STYLE_VALUES,
    )
    SUBMISSIONS["rebind"] = (  # an unnormalized Gram matrix, and a test helper that never fails
        {
            "gram_matrix": SUBMISSIONS["unnormalized"][0]["gram_matrix"]
            + "\n\ndef assert_close(actual, expected, what, rtol=1e-5):\n    pass\n"
        },
        GRAM_VALUES,
    )

# An error-path test pays only beside the success-path cells of its function (the test cell's
# `grading.pairs_with`): a function that fails those loses its error-path point too, however it raises.
PAIRS = {
    "gram_layout_error_hidden": {"gram_visible", "gram_nhwc_hidden", "gram_nchw_hidden"},
    "style_mismatch_hidden": {"style_visible", "style_layers_hidden", "style_nchw_hidden"},
}
SUBMISSIONS = {
    student: (
        answers,
        set(failing) | {cell for cell, needs in PAIRS.items() if needs & set(failing)},
    )
    for student, (answers, failing) in SUBMISSIONS.items()
}
