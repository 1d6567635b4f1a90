"""Fully convolutional segmentation in Keras: FCN-32s, FCN-16s and FCN-8s on MobileNetV2's maps.

The same names as ``cnnkit.segmentation.torch``, which says how the models work. The encoder is the
Keras mirror of torchvision's MobileNetV2 filled with its ImageNet weights (``cnnkit.pretrained``),
so that both frameworks start from the very same numbers. Tensors are in Keras's layout,
``(batch, height, width, channels)``; the head outputs logits.
"""

from __future__ import annotations

import keras
import numpy as np

from cnnkit._checks import positive_int
from cnnkit.upsampling import bilinear_weights

__all__ = [
    "FCN",
    "FCNHead",
    "bilinear_upsampling",
    "compute_maps",
    "map_batches",
    "mobilenet_v2_stages",
    "predict_masks",
    "preprocess_scenes",
    "train_fcn",
]

VARIANTS = {"32s": 1, "16s": 2, "8s": 3}
STAGE_CHANNELS = (32, 96, 320)
_STAGE_ENDS = ("block6_add", "block13_add", "block17_project_bn")  # strides 8, 16, 32


def bilinear_upsampling(depth: int, factor: int, trainable: bool = True):
    """A ``Conv2DTranspose`` that multiplies height and width by ``factor``, each channel on its
    own, initialized to bilinear interpolation (``cnnkit.upsampling.bilinear_kernel``)."""
    depth, factor = positive_int(depth, "depth"), positive_int(factor, "factor")
    return keras.layers.Conv2DTranspose(
        depth, 2 * factor - factor % 2, strides=factor, padding="same", use_bias=False,
        kernel_initializer=keras.initializers.Constant(bilinear_weights(factor, depth)),
        trainable=trainable,
    )  # fmt: skip


class FCNHead(keras.layers.Layer):
    """FCN's decoder: ``head([map8, map16, map32])`` → logits ``(batch, 8 × height of map8, ...,
    num_classes)``. ``variant``: "32s", "16s" or "8s" (see ``cnnkit.segmentation.torch.FCNHead``)."""

    def __init__(self, num_classes: int = 11, variant: str = "8s", **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        self.num_classes, self.variant = positive_int(num_classes, "num_classes"), variant
        used = VARIANTS[variant]
        self.scores = [keras.layers.Conv2D(num_classes, 1)] + [
            keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros") for _ in range(used - 1)
        ]  # the skips' scores start at zero
        self.doublings = [bilinear_upsampling(num_classes, 2) for _ in range(used - 1)]
        factor = 32 // 2 ** (used - 1)
        self.final = keras.layers.UpSampling2D(factor, interpolation="bilinear")

    def call(self, inputs):
        map8, map16, map32 = inputs
        maps = (map32, map16, map8)[: len(self.scores)]
        logits = self.scores[0](maps[0])
        for double, score, skip in zip(self.doublings, self.scores[1:], maps[1:], strict=True):
            logits = double(logits) + score(skip)  # the skip connection
        return self.final(logits)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "variant": self.variant}


class FCN(keras.Model):
    """``stages`` (the encoder's last ones, possibly none), then ``head`` on the last three maps.

    Call it on images with all three stages, or on maps computed beforehand with fewer. With
    ``keep_statistics`` the stages run with ``training=False``: their BatchNorm layers keep their
    (pretrained) statistics while their weights train.
    """

    def __init__(self, head: FCNHead, stages=(), keep_statistics: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.head, self.stages = head, list(stages)
        self.keep_statistics = keep_statistics

    def call(self, inputs, training=None):
        maps = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for stage in self.stages:
            maps.append(stage(maps[-1], training=False if self.keep_statistics else training))
        if len(maps) < 3:
            raise ValueError(f"the head needs 3 maps, got {len(maps)}: give more inputs or stages")
        return self.head(maps[-3:])


def mobilenet_v2_stages(weights: str | None = "imagenet") -> list:
    """The Keras mirror of MobileNetV2 in 3 stage models: images → stride 8 (32 channels) →
    stride 16 (96) → stride 32 (320). ``weights``: "imagenet" (torchvision's) or None (random)."""
    from cnnkit.pretrained.keras import mobilenet_v2

    base = mobilenet_v2(weights=weights, include_top=False)
    ends = [base.get_layer(name).output for name in _STAGE_ENDS]
    starts = [base.input, *ends[:-1]]
    pairs = zip(starts, ends, strict=True)
    return [keras.Model(a, b, name=f"stage{8 * 2**i}") for i, (a, b) in enumerate(pairs)]


def compute_maps(stages, inputs, batch_size: int = 64, device=None) -> list[np.ndarray]:
    """Run ``inputs`` ``(n, height, width, channels)`` through ``stages`` once, in inference mode:
    every stage's maps as NumPy arrays. (``device`` is for PyTorch's mirror; Keras places itself.)"""
    batch_size = positive_int(batch_size, "batch_size")
    outputs = [[] for _ in stages]
    for start in range(0, len(inputs), batch_size):
        x = np.asarray(inputs[start : start + batch_size], np.float32)
        for stage, kept in zip(stages, outputs, strict=True):
            x = keras.ops.convert_to_numpy(stage(x, training=False))
            kept.append(x)
    return [np.concatenate(kept) for kept in outputs]


def map_batches(inputs, masks, *, batch_size: int = 16, shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of ``(inputs, masks)`` batches for ``model.fit``; ``inputs`` one array
    or a tuple of arrays (images or maps, float32), ``masks`` ``(n, height, width)`` labels."""
    import tensorflow as tf

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    arrays = tuple(np.asarray(x, np.float32) for x in inputs)
    labels = np.asarray(masks, np.int64)
    if any(len(x) != len(labels) for x in arrays):
        raise ValueError(
            f"inputs and masks differ in length: {[len(x) for x in arrays]} vs {len(labels)}"
        )
    dataset = tf.data.Dataset.from_tensor_slices((arrays, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(positive_int(batch_size, "batch_size")).prefetch(tf.data.AUTOTUNE)


def predict_masks(model, inputs, batch_size: int = 64, device=None) -> np.ndarray:
    """The class of every pixel, ``(n, height, width)`` int64, from the model's logits."""
    batch_size = positive_int(batch_size, "batch_size")
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    masks = []
    for start in range(0, len(inputs[0]), batch_size):
        batch = [np.asarray(x[start : start + batch_size], np.float32) for x in inputs]
        logits = model(batch if len(batch) > 1 else batch[0], training=False)
        masks.append(np.argmax(keras.ops.convert_to_numpy(logits), axis=-1))
    return np.concatenate(masks).astype(np.int64)


def train_fcn(model, inputs, masks, *, learning_rate: float, num_epochs: int, batch_size: int = 16,
              background_weight: float = 0.3, seed: int = 42, device=None) -> dict:  # fmt: skip
    """The chapter's recipe: Adam with a cosine decay to 0 over all steps, and cross-entropy per
    pixel with the background's pixels weighted ``background_weight`` (the digits' 1), averaged
    over all pixels. Compiles and fits ``model`` (``device`` is for PyTorch's mirror); returns
    its history. The same recipe as ``cnnkit.segmentation.torch.train_fcn``."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    labels = np.asarray(masks, np.int64)
    steps = positive_int(num_epochs, "num_epochs") * -(-len(labels) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule, epsilon=1e-8),  # PyTorch's epsilon
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    batches = map_batches(inputs, labels, batch_size=batch_size, shuffle=True, seed=seed)
    batches = batches.map(lambda x, y: (x, y, tf.where(y == 0, background_weight, 1.0)))
    return model.fit(batches, epochs=num_epochs, verbose=0, shuffle=False).history  # shuffled above


def preprocess_scenes(images) -> np.ndarray:
    """Scenes ``(n, height, width, 3)`` in [0, 1] → MobileNetV2's input, ``(n, height, width, 3)``."""
    from cnnkit.pretrained.keras import preprocess_input

    return np.asarray(preprocess_input(np.asarray(images, np.float32) * 255))
