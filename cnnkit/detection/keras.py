"""Detection models of chapter 6 in Keras (``cnnkit.detection.torch`` has the same names).

Images are ``(batch, height, width, channels)``. Keras models train with their own ``compile`` and
``fit``; the losses here are ``keras.losses.Loss`` objects for ``compile``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from cnnkit.detection import mtcnn_weights, warmup_cosine_rates

__all__ = [
    "ClassifierLocalizer",
    "GridLoss",
    "MTCNNPNet",
    "MTCNNRNet",
    "dense_to_conv",
    "grid_detector",
    "grid_layout",
    "grid_outputs",
    "localization_loss",
    "warmup_cosine",
]


# PyTorch's default initialisation of a convolution's kernel (Kaiming-uniform with a = √5): uniform
# in ±1 / √fan_in. Keras's default (Glorot-uniform) is wider; the grid detector uses PyTorch's in
# both frameworks, so that the two halves start from the same distribution.
TORCH_KERNEL_INIT = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")


def _conv(filters, stride=1, kernel_initializer="glorot_uniform"):
    return [layers.Conv2D(filters, 3, stride, padding="same", use_bias=False,
                          kernel_initializer=kernel_initializer),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-5), layers.ReLU()]  # fmt: skip


def warmup_cosine(total_steps: int, peak: float, *, warmup_fraction: float = 0.1,
                  start_fraction: float = 0.1, alpha: float = 0.01):  # fmt: skip
    """Keras's ``CosineDecay`` with the rates of ``cnnkit.detection.warmup_cosine_rates``.

    Pass it to an optimizer as its learning rate; ``fit`` steps it after every batch.
    """
    warmup_cosine_rates(total_steps, peak, warmup_fraction=warmup_fraction)  # checks the arguments
    warmup = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        start_fraction * peak, total_steps - warmup, alpha=alpha, warmup_target=peak,
        warmup_steps=warmup,
    )  # fmt: skip


class ClassifierLocalizer(keras.Model):
    """A small CNN with two heads: class logits, and a box ``(x, y, √w, √h)`` in [0, 1] (sigmoid).

    Four stride-2 convolutions take ``image_size`` × ``image_size`` images to maps 16 times
    smaller, which are flattened, not pooled: global pooling would throw away *where* the features
    are, and the box head needs exactly that. Its layers start as PyTorch's do (``grid_detector``).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, image_size: int = 48, **kwargs):
        super().__init__(**kwargs)
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        init, flat = TORCH_KERNEL_INIT, 4 * width * (image_size // 16) ** 2
        self.features = keras.Sequential([*_conv(width, 2, init), *_conv(2 * width, 2, init),
                                          *_conv(2 * width, 2, init), *_conv(4 * width, 2, init),
                                          layers.Flatten()])  # fmt: skip
        self.classes = layers.Dense(num_classes, kernel_initializer=init,
                                    bias_initializer=_torch_bias(flat))  # fmt: skip
        self.box = layers.Dense(4, activation="sigmoid", kernel_initializer=init,
                                bias_initializer=_torch_bias(flat))  # fmt: skip

    def call(self, images):
        features = self.features(images)
        return self.classes(features), self.box(features)


def _torch_bias(fan_in: int):
    """PyTorch's default bias initialisation: uniform in ±1 / √fan_in."""
    return keras.initializers.RandomUniform(-1 / np.sqrt(fan_in), 1 / np.sqrt(fan_in))


def localization_loss(predicted, target):
    """Mean squared error on ``(x, y, √w, √h)`` boxes: small boxes' size errors weigh more."""
    return ops.mean(ops.square(ops.convert_to_tensor(predicted) - target))


def grid_detector(
    num_anchors: int, num_classes: int, width: int = 24, objectness_prior: float = 0.01
):
    """A single-shot detector with an overall stride of 8: one grid cell per 8 × 8 pixels.

    Outputs ``(batch, rows, columns, num_anchors · (5 + num_classes))``: for each anchor of each
    cell, the box's ``t_x, t_y, t_w, t_h``, an objectness logit and class logits (``cnnkit.boxes``).
    The objectness biases start at ``log(p / (1 - p))`` with ``p = objectness_prior`` (as in
    RetinaNet): nearly every anchor is empty, and training then does not begin by unlearning a
    50 % guess on each of them.
    """
    init = TORCH_KERNEL_INIT
    model = keras.Sequential(
        [keras.Input((None, None, 3)), *_conv(width // 2, 2, init), *_conv(width, 2, init),
         *_conv(width, 1, init), *_conv(2 * width, 2, init), *_conv(2 * width, 1, init),
         *_conv(3 * width, 1, init), *_conv(3 * width, 1, init),
         layers.Conv2D(num_anchors * (5 + num_classes), 1, kernel_initializer=init,
                       bias_initializer=_torch_bias(3 * width))],
        name="grid_detector",
    )  # fmt: skip
    kernel, bias = model.layers[-1].get_weights()
    bias.reshape(num_anchors, 5 + num_classes)[:, 4] = np.log(
        objectness_prior / (1 - objectness_prior)
    )
    model.layers[-1].set_weights([kernel, bias])
    return model


class GridLoss(keras.losses.Loss):
    """The loss of ``grid_detector`` against ``cnnkit.boxes.encode_yolo`` targets, per image.

    Binary cross-entropy on every anchor's objectness; for the anchors holding a box, binary
    cross-entropy on the centre's offsets in the cell, ``box_weight`` × squared error on the log
    scales, and cross-entropy on the class.
    """

    def __init__(self, num_anchors: int, num_classes: int, box_weight: float = 5.0, **kwargs):
        super().__init__(name="grid_loss", **kwargs)
        self.num_anchors, self.num_classes, self.box_weight = num_anchors, num_classes, box_weight

    def call(self, targets, outputs):
        p = grid_layout(outputs, self.num_anchors)  # (batch, rows, columns, anchors, 5 + C)
        has_box = targets[..., 0]
        objectness = ops.binary_crossentropy(has_box, p[..., 4], from_logits=True)
        offsets = ops.sum(
            ops.binary_crossentropy(targets[..., 1:3], p[..., :2], from_logits=True), -1
        )
        scales = ops.sum(ops.square(p[..., 2:4] - targets[..., 3:5]), -1)
        classes = ops.sparse_categorical_crossentropy(ops.cast(targets[..., 5], "int32"), p[..., 5:],
                                                      from_logits=True)  # fmt: skip
        per_anchor = objectness + has_box * (offsets + self.box_weight * scales + classes)
        return ops.sum(per_anchor, axis=(1, 2, 3))  # one number per image; Keras takes the mean


def grid_layout(outputs, num_anchors: int):
    """``(batch, rows, columns, A · (5 + C))`` → ``(batch, rows, columns, A, 5 + C)``."""
    channels = outputs.shape[-1]
    if channels % num_anchors:
        raise ValueError(f"{channels} output channels cannot hold {num_anchors} anchors")
    shape = ops.shape(outputs)
    return ops.reshape(
        outputs, (shape[0], shape[1], shape[2], num_anchors, channels // num_anchors)
    )


def grid_outputs(model, images, num_anchors: int, batch_size: int = 256) -> np.ndarray:
    """Run ``model`` on NumPy images ``(n, height, width, 3)``; NumPy ``(n, rows, columns, A, 5 + C)``."""
    images = np.asarray(images, np.float32)
    chunks = [  # eager calls: predict() would trace a new graph for each model it meets
        ops.convert_to_numpy(grid_layout(model(images[start : start + batch_size], training=False),
                                         num_anchors))
        for start in range(0, len(images), batch_size)
    ]  # fmt: skip
    return np.concatenate(chunks)


def dense_to_conv(dense, in_channels: int, height: int, width: int):
    """The convolution equal to ``dense`` applied to flattened ``(height, width, in_channels)`` maps.

    One filter per unit, as large as the maps, "valid" padding: on maps of exactly that size it
    outputs ``(batch, 1, 1, units)``, the dense layer's outputs; on larger maps it slides.
    """
    kernel, *bias = dense.get_weights()
    if kernel.shape[0] != in_channels * height * width:
        raise ValueError(f"the dense layer takes {kernel.shape[0]} inputs, not "
                         f"{height} × {width} × {in_channels} = {in_channels * height * width}")  # fmt: skip
    conv = layers.Conv2D(kernel.shape[1], (height, width), use_bias=bool(bias),
                         activation=dense.activation)  # fmt: skip
    conv.build((None, height, width, in_channels))
    conv.set_weights(
        [kernel.reshape(height, width, in_channels, -1), *bias]
    )  # Keras flattens (h, w, c)
    return conv


class MTCNNPNet(keras.Model):
    """MTCNN's proposal network: fully convolutional, one output per 12 × 12 window (stride 2).

    Returns box offsets ``(batch, rows, columns, 4)`` and face probabilities ``(batch, rows, columns)``.
    """

    def __init__(self, **kwargs):
        super().__init__(**{"name": "mtcnn_pnet", **kwargs})
        self.body = keras.Sequential([
            keras.Input((None, None, 3)), layers.Conv2D(10, 3), layers.PReLU(shared_axes=[1, 2]),
            layers.MaxPooling2D(2, 2, padding="same"), layers.Conv2D(16, 3),
            layers.PReLU(shared_axes=[1, 2]), layers.Conv2D(32, 3), layers.PReLU(shared_axes=[1, 2]),
        ])  # fmt: skip
        self.box, self.face = layers.Conv2D(4, 1), layers.Conv2D(2, 1)
        for head in (self.box, self.face):
            head.build((None, None, None, 32))
        _load("pnet", [*self.body.layers, self.box, self.face])

    def build(self, input_shape=None):  # every layer was built (and loaded) in __init__
        self.built = True

    def call(self, images):
        x = self.body(images)
        return self.box(x), ops.softmax(self.face(x), axis=-1)[..., 1]


class MTCNNRNet(keras.Model):
    """MTCNN's refinement network on 24 × 24 crops; its ``dense`` layer sees 3 × 3 × 64 maps.

    ``fully_convolutional=True`` replaces that dense layer (and the heads) by convolutions with the
    same weights, so that the network slides over larger images (stride 4).
    """

    def __init__(self, fully_convolutional: bool = False, **kwargs):
        super().__init__(**{"name": "mtcnn_rnet", **kwargs})
        self.body = keras.Sequential([
            keras.Input((None, None, 3)), layers.Conv2D(28, 3), layers.PReLU(shared_axes=[1, 2]),
            layers.MaxPooling2D(3, 2, padding="same"), layers.Conv2D(48, 3),
            layers.PReLU(shared_axes=[1, 2]), layers.MaxPooling2D(3, 2), layers.Conv2D(64, 2),
            layers.PReLU(shared_axes=[1, 2]),
        ])  # fmt: skip
        self.flatten, self.dense, self.prelu = layers.Flatten(), layers.Dense(128), layers.PReLU()
        self.box, self.face = layers.Dense(4), layers.Dense(2)
        for layer, inputs in (
            (self.dense, 576),
            (self.prelu, 128),
            (self.box, 128),
            (self.face, 128),
        ):
            layer.build((None, inputs))
        _load("rnet", [*self.body.layers, self.dense, self.prelu, self.box, self.face])
        self.fully_convolutional = fully_convolutional
        if fully_convolutional:  # before the model is first called, while layers may still change
            self.dense = dense_to_conv(self.dense, 64, 3, 3)
            self.box, self.face = (
                dense_to_conv(self.box, 128, 1, 1),
                dense_to_conv(self.face, 128, 1, 1),
            )
            (alpha,) = self.prelu.get_weights()
            self.prelu = layers.PReLU(shared_axes=[1, 2])
            self.prelu.build((None, None, None, 128))
            self.prelu.set_weights([alpha.reshape(1, 1, 128)])

    def build(self, input_shape=None):  # every layer was built (and loaded) in __init__
        self.built = True

    def call(self, images):
        x = self.body(images)  # (batch, 3, 3, 64) for 24 × 24 crops
        x = self.prelu(self.dense(x if self.fully_convolutional else self.flatten(x)))
        return self.box(x), ops.softmax(self.face(x), axis=-1)[..., 1]


def _load(name: str, weighted_layers) -> None:
    """Copy MTCNN's arrays (Keras layouts, layer order) into ``weighted_layers``."""
    arrays = iter(mtcnn_weights(name))
    for layer in weighted_layers:
        if isinstance(layer, layers.Conv2D | layers.Dense):
            kernel = next(arrays)
            if kernel.shape[0] == 576:  # stored for (width, height, channels): reorder to Keras's
                kernel = kernel.reshape(3, 3, 64, -1).transpose(1, 0, 2, 3).reshape(576, -1)
            layer.set_weights([kernel, next(arrays)])
        elif isinstance(layer, layers.PReLU):
            (alpha,) = layer.get_weights()
            layer.set_weights([next(arrays).reshape(alpha.shape)])
