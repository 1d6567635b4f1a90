"""Chapter 5 (transfer learning): the grading proof's data. One batch of 7 submissions.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells (the
fine-tuning exercise's three functions too: each of its tests runs one of them in the judge's own
model, with the judge's plain code for the two others). The typical mistakes of the issue:
augmenting the evaluation photos, preprocessing twice, forgetting to freeze the base, letting
BatchNorm update its statistics, unfreezing BatchNorm with the top blocks, one learning rate for
the whole model. The reference and "twice" compute MobileNetV2's features of the 150 training
photos (about 15 s each in the quick profile, on 2 quiet cores); "augmented", "layout" and
"delegated", whose mistakes are elsewhere, leave the flower classifier undone. Two workers, each
kernel with one thread.

Tricks score no more than the honest work they did: answers that delegate to the libraries the
exercises forbid (keras.applications, tensorflow-datasets, cnnkit.photos, cnnkit.pretrained) score 0
on those exercises, and a table of every tf_flowers photo the notebook can read, with no model,
scores 0 on the flower classifier (graded, the hidden test's photos are in no file the notebook can
read, autograder/evaldata.py, and the judge crops, flips and brightens them at random; the visible
test flips validation photos).
"""

from grading_proofs import Assignment

ASSIGNMENT = "05_transfer_learning"
POINTS = {
    "preprocessing_visible": 1,
    "preprocessing_resnet50_hidden": 1,
    "preprocessing_mobilenet_v2_hidden": 1,
    "flower_batches_visible": 1,
    "flower_batches_evaluation_hidden": 1,
    "flower_batches_training_hidden": 1,
    "flower_net_visible": 1,
    "flower_net_frozen_hidden": 1,
    "flower_net_batch_norm_hidden": 1,
    "unfreeze_top_visible": 1,
    "unfreeze_top_hidden": 1,
    "train_mode_visible": 1,
    "fine_tuning_optimizer_visible": 1,
    "fine_tuning_optimizer_hidden": 1,
    "flowers_visible": 1,
    "flowers_hidden": 4,
}
TOTAL = 19
MANUAL = "fine_tuning_answer"
WORKERS, TIMEOUT = 2, 2400

variant = Assignment(ASSIGNMENT).variant
# The flower classifier computes MobileNetV2's features of 150 photos (about 20 CPU s a
# submission): the reference and "twice" (a mistake in predict_flowers) build it; the submissions
# whose mistakes are elsewhere leave it undone.
FLOWERS_UNDONE = Assignment(ASSIGNMENT).left_blank(
    "flowers_model", "flowers_training_1", "flowers_training_2", "flowers_predict"
)

AUGMENT_BATCHES = (
    "    if training:\n        batches = batches.map(lambda x, y: (augment(",
    "    if True:  # augments the evaluation photos too\n"
    "        batches = batches.map(lambda x, y: (augment(",
)
FROZEN = "weights).features.requires_grad_(False)"
UNFREEZE_WITHOUT_BATCH_NORM = (
    "        for module in block.modules():\n"
    "            if not isinstance(module, nn.BatchNorm2d):\n"
    "                for parameter in module.parameters(recurse=False):\n"
    "                    parameter.requires_grad_(True)\n"
)
BATCH_NORM_STAYS = (
    "    for module in model.modules():\n"
    "        if isinstance(module, nn.BatchNorm2d):\n"
    "            module.eval()\n"
)

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "augmented": (
        {
            "flower_batches": variant("flower_batches", AUGMENT_BATCHES),
            "flower_net": variant("flower_net", (FROZEN, "weights).features")),  # not frozen
            "fine_tuning": variant(  # BatchNorm's scale and offset unfrozen with their blocks
                "fine_tuning", (UNFREEZE_WITHOUT_BATCH_NORM, "        block.requires_grad_(True)\n")
            ),
            **FLOWERS_UNDONE,
        },
        {"flowers_visible", "flowers_hidden"}  # undone
        | {"flower_batches_evaluation_hidden", "flower_net_visible", "flower_net_frozen_hidden"}
        | {"unfreeze_top_visible", "unfreeze_top_hidden"},
    ),
    "twice": (
        {
            "preprocessing": variant(
                "preprocessing",  # RGB left as it is: Caffe's weights expect BGR
                ("return images[..., ::-1] - np.array", "return images - np.array"),
            ),
            "flower_batches": variant(
                "flower_batches",  # preprocessed twice
                (
                    "(pretrained_keras.preprocess_input(x), y)",
                    "(pretrained_keras.preprocess_input(pretrained_keras.preprocess_input(x)), y)",
                ),
            ),
            "flower_net": variant(
                "flower_net",  # no train() override: model.train() puts BatchNorm in training mode
                (
                    "    def train(self, mode=True):\n        super().train(mode)\n"
                    "        self.base.eval()  # BatchNorm in inference mode\n        return self",
                    "",
                ),
            ),
            "fine_tuning": variant(  # model.train() alone: BatchNorm in training mode
                "fine_tuning", (BATCH_NORM_STAYS, "")
            ),
            "flowers_predict": variant(
                "flowers_predict",  # probabilities instead of classes
                ("return np.asarray(probabilities).argmax(axis=1)", "return probabilities"),
            ),
        },
        {"preprocessing_visible", "preprocessing_resnet50_hidden", "flower_batches_visible"}
        | {
            "flower_net_batch_norm_hidden",
            "train_mode_visible",
            "flowers_visible",
            "flowers_hidden",
        },
    ),
    "layout": (
        {
            "preprocessing": variant(
                "preprocessing",  # left in Keras's layout
                (
                    "return ((images - mean) / std).transpose(0, 3, 1, 2)",
                    "return (images - mean) / std",
                ),
            ),
            "flower_batches": variant(
                "flower_batches",  # the same order at every pass
                ("batches.shuffle(1000, reshuffle_each_iteration=True)", "batches"),
            ),
            "fine_tuning": variant(  # one learning rate for the head and the base
                "fine_tuning",
                (
                    '{"params": list(model.head.parameters()), "lr": head_lr}, {"params": base, "lr": base_lr}',
                    '{"params": list(model.head.parameters()) + base, "lr": head_lr}',
                ),
            ),
            **FLOWERS_UNDONE,
        },
        {"flowers_visible", "flowers_hidden"}  # undone
        | {
            "preprocessing_visible",
            "preprocessing_mobilenet_v2_hidden",
            "flower_batches_training_hidden",
        }
        | {"fine_tuning_optimizer_visible", "fine_tuning_optimizer_hidden"},
    ),
    # Tricks: the libraries the exercises forbid, called from the answers.
    "delegated": (
        {
            "preprocessing": (
                "from cnnkit.pretrained.torch import preprocess_input\n\n\n"
                "def preprocess_resnet50(images):\n"
                "    return keras.applications.resnet50.preprocess_input(np.array(images, np.float32))\n\n\n"
                "def preprocess_mobilenet_v2_torch(images):\n"
                "    return preprocess_input(np.array(images, np.float32).transpose(0, 3, 1, 2)).numpy()\n"
            ),
            "flower_batches": (
                "from cnnkit.photos import keras as photos_keras\n\n\n"
                "def flower_batches(dataset, training):\n"
                "    augment = photos_keras.augmentation() if training else None\n"
                "    return photos_keras.photo_batches(dataset, preprocess=pretrained_keras.preprocess_input, augment=augment, shuffle=training)\n"
            ),
            "flower_net": (
                "from cnnkit.pretrained.torch import FrozenClassifier, mobilenet_v2\n\n\n"
                "class FlowerNet(FrozenClassifier):\n"
                "    def __init__(self, num_classes):\n"
                "        super().__init__(mobilenet_v2(include_top=False), num_classes)\n"
            ),
            **FLOWERS_UNDONE,
        },
        {"flowers_visible", "flowers_hidden"}  # undone
        | {
            "preprocessing_visible",
            "preprocessing_resnet50_hidden",
            "preprocessing_mobilenet_v2_hidden",
        }
        | {"flower_batches_visible", "flower_batches_evaluation_hidden"}
        | {"flower_batches_training_hidden", "flower_net_visible", "flower_net_frozen_hidden"}
        | {"flower_net_batch_norm_hidden"},
    ),
    # A table of every photo of tf_flowers (the test photos included), and no model at all; and
    # three more fine-tuning mistakes: `[-n:]` (every block when n is 0), the frozen parameters of
    # the base in the optimizer, `model.eval()` for training (Dropout off).
    "lookup": (
        {
            "fine_tuning": variant(
                "fine_tuning",
                ("list(model.base)[len(model.base) - n :] if n else []", "list(model.base)[-n:]"),
                (
                    "base = [p for p in model.base.parameters() if p.requires_grad]",
                    "base = list(model.base.parameters())",
                ),
                ("    model.train()\n" + BATCH_NORM_STAYS, "    model.eval()\n"),
            ),
            "flowers_model": (
                "(everything,), _ = cnnkit.data.load_tf_flowers(split=['train'])\n"
                "table = {image.tobytes(): int(label) for image, label in everything.as_numpy_iterator()}"
            ),
            "flowers_training_1": "pass",
            "flowers_training_2": "pass",
            "flowers_predict": (
                "def predict_flowers(photos):\n"
                "    return np.array([table.get(np.asarray(photo, np.uint8).tobytes(), 0) for photo in photos])\n"
            ),
        },
        {"flowers_visible", "flowers_hidden", "unfreeze_top_hidden", "fine_tuning_optimizer_hidden"}
        | {"train_mode_visible"},
    ),
}
