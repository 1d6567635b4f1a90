"""Chapter 5 (transfer learning): the grading proof's data. One batch of 7 submissions.

Each wrong answer is the reference with one mistake, filled into the student version; mistakes in
different exercises share a submission, since each exercise is graded by its own cells. The typical
mistakes of the issue: augmenting the evaluation photos, preprocessing twice, forgetting to freeze
the base, letting BatchNorm update its statistics. Every submission but the blank one and the
"lookup" trick computes MobileNetV2's features of the 180 training and validation photos (about
15 s each in the quick profile, on 2 quiet cores); two workers, each kernel with one thread.

Tricks score no more than the honest work they did: answers that delegate to the libraries the
exercises forbid (keras.applications, tensorflow-datasets, cnnkit.photos, cnnkit.pretrained) score 0
on those exercises, and a table of every tf_flowers photo, with no model, scores 0 on the flower
classifier (the judge flips the photos it gives to ``predict_flowers``).
"""

from grading_proofs import Assignment

ASSIGNMENT = "05_transfer_learning"
POINTS = {
    "split_sizes_visible": 1,
    "split_sizes_hidden": 1,
    "preprocessing_visible": 1,
    "preprocessing_resnet50_hidden": 1,
    "preprocessing_mobilenet_v2_hidden": 1,
    "flower_batches_visible": 1,
    "flower_batches_evaluation_hidden": 1,
    "flower_batches_training_hidden": 1,
    "flower_net_visible": 1,
    "flower_net_frozen_hidden": 1,
    "flower_net_batch_norm_hidden": 1,
    "flowers_visible": 1,
    "flowers_hidden": 4,
}
TOTAL = 16
MANUAL = "fine_tuning_answer"
WORKERS, TIMEOUT = 2, 2400

variant = Assignment(ASSIGNMENT).variant

AUGMENT_BATCHES = (
    "    if training:\n        batches = batches.map(lambda x, y: (augment(",
    "    if True:  # augments the evaluation photos too\n"
    "        batches = batches.map(lambda x, y: (augment(",
)
FROZEN = "weights).features.requires_grad_(False)"

# student -> (answers that differ from the reference, the cells that must score 0)
SUBMISSIONS = {
    "augmented": (
        {
            "split_sizes": variant(
                "split_sizes",  # rounds halves up, where Python's round (and tfds) goes to even
                (
                    "bounds.append(round(percent * num_examples / 100))",
                    "bounds.append(int(percent * num_examples / 100 + 0.5))",
                ),
            ),
            "flower_batches": variant("flower_batches", AUGMENT_BATCHES),
            "flower_net": variant("flower_net", (FROZEN, "weights).features")),  # not frozen
        },
        {"split_sizes_hidden", "flower_batches_evaluation_hidden"}
        | {"flower_net_visible", "flower_net_frozen_hidden"},
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
            "flowers_predict": variant(
                "flowers_predict",  # probabilities instead of classes
                ("return np.asarray(probabilities).argmax(axis=1)", "return probabilities"),
            ),
        },
        {"preprocessing_visible", "preprocessing_resnet50_hidden", "flower_batches_visible"}
        | {"flower_net_batch_norm_hidden", "flowers_visible", "flowers_hidden"},
    ),
    "layout": (
        {
            "split_sizes": variant(
                "split_sizes",  # truncates where tfds rounds
                (
                    "bounds.append(round(percent * num_examples / 100))",
                    "bounds.append(int(percent * num_examples / 100))",
                ),
            ),
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
        },
        {"split_sizes_visible", "split_sizes_hidden", "preprocessing_visible"}
        | {"preprocessing_mobilenet_v2_hidden", "flower_batches_training_hidden"},
    ),
    # Tricks: the libraries the exercises forbid, called from the answers.
    "delegated": (
        {
            "split_sizes": (
                "from types import SimpleNamespace\n\nimport tensorflow_datasets as tfds\n\n\n"
                "def split_sizes(splits, num_examples):\n"
                "    info = {'train': SimpleNamespace(num_examples=num_examples, shard_lengths=[num_examples])}\n"
                "    absolute = [tfds.core.ReadInstruction.from_spec(s).to_absolute(info) for s in splits]\n"
                "    return [sum((a.to if a.to is not None else num_examples) - (a.from_ or 0) for a in parts) for parts in absolute]\n"
            ),
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
        },
        {"split_sizes_visible", "split_sizes_hidden", "preprocessing_visible"}
        | {"preprocessing_resnet50_hidden", "preprocessing_mobilenet_v2_hidden"}
        | {"flower_batches_visible", "flower_batches_evaluation_hidden"}
        | {"flower_batches_training_hidden", "flower_net_visible", "flower_net_frozen_hidden"}
        | {"flower_net_batch_norm_hidden"},
    ),
    # A table of every photo of tf_flowers (the test photos included), and no model at all.
    "lookup": (
        {
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
        {"flowers_visible", "flowers_hidden"},
    ),
}
