"""Chapter 4 (CNN architectures): the grading proof's data. One batch of 6 submissions.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. The
reference, "subtle" and "imported" train the MNIST model of exercise 7 (about 25 s per training
cell with the one thread a graded kernel gets); "biased" leaves exercise 7 undone, and "patched"
and "lookup" answer it without a model.
"""

from grading_proofs import Assignment

ASSIGNMENT = "04_architectures"
POINTS = {
    "residual_unit_visible": 1,
    "residual_unit_params_hidden": 1,
    "residual_unit_skip_hidden": 1,
    "residual_unit_torchvision_hidden": 1,
    "se_block_visible": 1,
    "se_block_hidden": 1,
    "se_block_scale_hidden": 1,
    "inception_visible": 1,
    "inception_hidden": 2,
    "lrn_visible": 1,
    "lrn_hidden": 2,
    "mnist_visible": 1,
    "mnist_hidden": 4,
}
TOTAL = 18
MANUAL = "lrn_answer;innovations_answer"
WORKERS, TIMEOUT, CELL_TIMEOUT = 2, 1800, 600

variant = Assignment(ASSIGNMENT).variant
# Exercise 7 trains a network (about 50 CPU s a submission): the reference and the two mistakes in
# predict_digits train it; "biased", whose mistakes are elsewhere, leaves it undone.
MNIST_UNDONE = Assignment(ASSIGNMENT).left_blank(
    "mnist_model", "mnist_training_1", "mnist_training_2", "mnist_predict"
)


LRN_IN_PLACE = """
def local_response_normalization(inputs, depth_radius=2, bias=1.0, alpha=0.00002, beta=0.75):
    a = np.asarray(inputs)  # no copy: the division below overwrites the caller's array
    squares = np.pad(a**2, [(0, 0)] * (a.ndim - 1) + [(depth_radius, depth_radius)])
    window = 2 * depth_radius + 1
    sums = np.lib.stride_tricks.sliding_window_view(squares, window, axis=-1).sum(axis=-1)
    a /= (bias + alpha * sums) ** beta
    return a
"""

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "biased": (
        {
            "residual_unit": variant("residual_unit", (", bias=False", "")),  # biases before BN
            "se_block": variant("se_block", ('activation="sigmoid"', "activation=None")),
            "inception_module": variant(
                "inception_module",  # the pooled maps concatenated as they are
                (
                    "[branch_1x1, branch_3x3, branch_5x5, branch_pool]",
                    "[branch_1x1, branch_3x3, branch_5x5, pooled]",
                ),
            ),
            "local_response_normalization": variant(
                "local_response_normalization",  # PyTorch's convention: alpha divided by the window
                ("(bias + alpha * sums)", "(bias + alpha / window * sums)"),
            ),
            **MNIST_UNDONE,
        },
        {
            "mnist_visible",  # undone
            "mnist_hidden",
            "residual_unit_visible",
            "residual_unit_params_hidden",
            "residual_unit_skip_hidden",  # the 1x1 convolution of the skip path got a bias too
            "residual_unit_torchvision_hidden",
            "se_block_hidden",
            "se_block_scale_hidden",
            "inception_visible",
            "inception_hidden",
            "lrn_visible",
            "lrn_hidden",
        },
    ),
    "subtle": (
        {
            "residual_unit": variant(
                "residual_unit",  # no ReLU after the addition
                (
                    "return torch.relu(self.main(inputs) + self.skip(inputs))",
                    "return self.main(inputs) + self.skip(inputs)",
                ),
            ),
            "se_block": variant(
                "se_block", ("max(1, channels // self.ratio)", "channels // self.ratio")
            ),  # zero units for narrow inputs
            "inception_module": variant(
                "inception_module",
                (
                    "[branch_1x1, branch_3x3, branch_5x5, branch_pool]",
                    "[branch_pool, branch_1x1, branch_3x3, branch_5x5]",
                ),
            ),
            "local_response_normalization": LRN_IN_PLACE,
            "mnist_predict": variant(
                "mnist_predict",  # probabilities instead of digits
                (
                    "model(batch.to(device)).argmax(dim=1).cpu()",
                    "model(batch.to(device)).softmax(dim=1).cpu()",
                ),
            ),
        },
        {
            "residual_unit_skip_hidden",
            "residual_unit_torchvision_hidden",
            "se_block_hidden",
            "inception_hidden",
            "lrn_hidden",
            "mnist_visible",
            "mnist_hidden",
        },
    ),
    "imported": (
        {
            "residual_unit": variant(
                "residual_unit",  # a projection only when the stride changes
                ("if stride != 1 or in_channels != filters:", "if stride != 1:"),
            ),
            "se_block": "from cnnkit.blocks.keras import SEBlock",
            "mnist_predict": variant(
                "mnist_predict",  # pixels left in 0-255, while the model trained on 0-1
                ("[:, None] / 255.0)", "[:, None])"),
            ),
        },
        {
            "residual_unit_params_hidden",
            "residual_unit_torchvision_hidden",
            "se_block_visible",
            "se_block_hidden",
            "se_block_scale_hidden",
            "mnist_visible",
            "mnist_hidden",
        },
    ),
    # Issue 22, class 3: the kernel's NumPy answers every comparison a probe might make there.
    "patched": (
        {
            "local_response_normalization": LRN_IN_PLACE
            + "\n\nnp.array_equal = np.allclose = lambda *args, **kwargs: True\n",
            "mnist_model": "model = None  # no model at all",
            "mnist_training_1": "pass",
            "mnist_training_2": "pass",
        },
        {"lrn_hidden", "mnist_visible", "mnist_hidden"},
    ),
    # Tricks (issue 10): torchvision's block as the answer; no model, a table of the images.
    "lookup": (
        {
            "residual_unit": (
                "from torchvision.models.resnet import BasicBlock\n\n\n"
                "class ResidualUnit(BasicBlock):\n"
                "    def __init__(self, in_channels, filters, stride=1):\n"
                "        skip = nn.Sequential()\n"
                "        if stride != 1 or in_channels != filters:\n"
                "            skip = nn.Sequential(nn.Conv2d(in_channels, filters, 1, stride=stride, bias=False), nn.BatchNorm2d(filters))\n"
                "        super().__init__(in_channels, filters, stride=stride, downsample=skip or None)\n"
                "        self.main = nn.Sequential(self.conv1, self.bn1, self.relu, self.conv2, self.bn2)\n"
                "        self.skip = skip\n"
            ),
            "mnist_model": "model = None  # no model at all",
            "mnist_training_1": "pass",
            "mnist_training_2": "pass",
            "mnist_predict": (
                "_table = {image.tobytes(): label for image, label in zip(digits.x_train, digits.y_train)}\n"
                "_table.update({image.tobytes(): label for image, label in zip(digits.x_test, digits.y_test)})\n\n\n"
                "def predict_digits(images):\n"
                "    return np.array([_table.get(np.asarray(image, np.uint8).tobytes(), 0) for image in images])\n"
            ),
        },
        {
            "residual_unit_visible",
            "residual_unit_params_hidden",
            "residual_unit_skip_hidden",
            "residual_unit_torchvision_hidden",
            "mnist_visible",
            "mnist_hidden",
        },
    ),
}
