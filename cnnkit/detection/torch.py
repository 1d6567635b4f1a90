"""Detection models of chapter 6 in PyTorch (``cnnkit.detection.keras`` has the same names).

A classifier with a box head, a small single-shot grid detector and its loss, the conversion of a
dense layer into a convolution, and MTCNN's P-Net and R-Net with their trained weights. Images go in
as PyTorch does it, ``(batch, channels, height, width)``; the helpers that return NumPy arrays give
them in the TensorFlow layout, so that ``cnnkit.boxes`` reads both frameworks alike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


def _conv(in_channels, out_channels, stride=1):
    return [nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU()]  # fmt: skip


class ClassifierLocalizer(nn.Module):
    """A small CNN with two heads: class logits, and a box ``(x, y, √w, √h)`` in [0, 1] (sigmoid).

    Four stride-2 convolutions take ``image_size`` × ``image_size`` images to maps 16 times
    smaller, which are flattened, not pooled: global pooling would throw away *where* the features
    are, and the box head needs exactly that.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, image_size: int = 48):
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        self.features = nn.Sequential(*_conv(3, width, 2), *_conv(width, 2 * width, 2),
                                      *_conv(2 * width, 2 * width, 2), *_conv(2 * width, 4 * width, 2),
                                      nn.Flatten())  # fmt: skip
        flat = 4 * width * (image_size // 16) ** 2
        self.classes = nn.Linear(flat, num_classes)
        self.box = nn.Linear(flat, 4)

    def forward(self, images):
        features = self.features(images)
        return self.classes(features), torch.sigmoid(self.box(features))


def localization_loss(predicted, target):
    """Mean squared error on ``(x, y, √w, √h)`` boxes: small boxes' size errors weigh more."""
    return F.mse_loss(predicted, target)


def grid_detector(
    num_anchors: int, num_classes: int, width: int = 24, objectness_prior: float = 0.01
):
    """A single-shot detector with an overall stride of 8: one grid cell per 8 × 8 pixels.

    Outputs ``(batch, num_anchors · (5 + num_classes), rows, columns)``: for each anchor of each
    cell, the box's ``t_x, t_y, t_w, t_h``, an objectness logit and class logits (``cnnkit.boxes``).
    The objectness biases start at ``log(p / (1 - p))`` with ``p = objectness_prior`` (as in
    RetinaNet): nearly every anchor is empty, and training then does not begin by unlearning a
    50 % guess on each of them.
    """
    model = nn.Sequential(
        *_conv(3, width // 2, 2), *_conv(width // 2, width, 2), *_conv(width, width),
        *_conv(width, 2 * width, 2), *_conv(2 * width, 2 * width), *_conv(2 * width, 3 * width),
        *_conv(3 * width, 3 * width), nn.Conv2d(3 * width, num_anchors * (5 + num_classes), 1),
    )  # fmt: skip
    with torch.no_grad():
        model[-1].bias.view(num_anchors, 5 + num_classes)[:, 4] = np.log(
            objectness_prior / (1 - objectness_prior)
        )
    return model


def warmup_cosine(optimizer, total_steps: int, peak: float, *, warmup_fraction: float = 0.1,
                  start_fraction: float = 0.1, alpha: float = 0.01):  # fmt: skip
    """A ``LambdaLR`` stepping ``optimizer`` through ``cnnkit.detection.warmup_cosine_rates``.

    Call its ``step()`` after every batch (``cnnkit.train.fit(..., scheduler=)`` does). The
    optimizer's learning rate is set to ``peak`` first: the schedule scales it.
    """
    rates = warmup_cosine_rates(total_steps, peak, warmup_fraction=warmup_fraction,
                                start_fraction=start_fraction, alpha=alpha)  # fmt: skip
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = peak
    last = len(rates) - 1
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: float(rates[min(step, last)]) / peak
    )


class GridLoss(nn.Module):
    """The loss of ``grid_detector`` against ``cnnkit.boxes.encode_yolo`` targets, per image.

    Binary cross-entropy on every anchor's objectness; for the anchors holding a box, binary
    cross-entropy on the centre's offsets in the cell, ``box_weight`` × squared error on the log
    scales, and cross-entropy on the class.
    """

    def __init__(self, num_anchors: int, num_classes: int, box_weight: float = 5.0):
        super().__init__()
        self.num_anchors, self.num_classes, self.box_weight = num_anchors, num_classes, box_weight

    def forward(self, outputs, targets):
        predicted = grid_layout(outputs, self.num_anchors)  # (batch, rows, columns, anchors, 5 + C)
        has_box = targets[..., 0] > 0
        objectness = F.binary_cross_entropy_with_logits(
            predicted[..., 4], targets[..., 0], reduction="sum"
        )
        p, t = predicted[has_box], targets[has_box]
        offsets = F.binary_cross_entropy_with_logits(p[:, :2], t[:, 1:3], reduction="sum")
        scales = F.mse_loss(p[:, 2:4], t[:, 3:5], reduction="sum")
        classes = F.cross_entropy(p[:, 5:], t[:, 5].long(), reduction="sum")
        return (objectness + offsets + self.box_weight * scales + classes) / len(outputs)


def grid_layout(outputs, num_anchors: int):
    """``(batch, A · (5 + C), rows, columns)`` → ``(batch, rows, columns, A, 5 + C)``."""
    batch, channels, rows, columns = outputs.shape
    if channels % num_anchors:
        raise ValueError(f"{channels} output channels cannot hold {num_anchors} anchors")
    return outputs.permute(0, 2, 3, 1).reshape(
        batch, rows, columns, num_anchors, channels // num_anchors
    )


def grid_outputs(model, images, num_anchors: int, batch_size: int = 256) -> np.ndarray:
    """Run ``model`` on NumPy images ``(n, height, width, 3)``; NumPy ``(n, rows, columns, A, 5 + C)``."""
    device = next(model.parameters()).device
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(
                np.ascontiguousarray(images[start : start + batch_size].transpose(0, 3, 1, 2))
            )
            chunks.append(grid_layout(model(x.float().to(device)), num_anchors).cpu().numpy())
    return np.concatenate(chunks)


def dense_to_conv(dense: nn.Linear, in_channels: int, height: int, width: int) -> nn.Conv2d:
    """The convolution equal to ``dense`` applied to flattened ``(in_channels, height, width)`` maps.

    One filter per unit, as large as the maps, "valid" padding: on maps of exactly that size it
    outputs ``(batch, units, 1, 1)``, the dense layer's outputs; on larger maps it slides.
    """
    if dense.in_features != in_channels * height * width:
        raise ValueError(f"the dense layer takes {dense.in_features} inputs, not "
                         f"{in_channels} × {height} × {width} = {in_channels * height * width}")  # fmt: skip
    conv = nn.Conv2d(in_channels, dense.out_features, (height, width), bias=dense.bias is not None)
    with torch.no_grad():  # PyTorch flattens in (channels, height, width) order
        conv.weight.copy_(dense.weight.reshape(dense.out_features, in_channels, height, width))
        if dense.bias is not None:
            conv.bias.copy_(dense.bias)
    return conv


class MTCNNPNet(nn.Module):
    """MTCNN's proposal network: fully convolutional, one output per 12 × 12 window (stride 2).

    Returns box offsets ``(batch, 4, rows, columns)`` and face probabilities ``(batch, rows, columns)``.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 10, 3), nn.PReLU(10), nn.MaxPool2d(2, 2, ceil_mode=True),
                                  nn.Conv2d(10, 16, 3), nn.PReLU(16), nn.Conv2d(16, 32, 3), nn.PReLU(32))  # fmt: skip
        self.box, self.face = nn.Conv2d(32, 4, 1), nn.Conv2d(32, 2, 1)
        _load(self, "pnet")

    def forward(self, images):
        x = self.body(images)
        return self.box(x), torch.softmax(self.face(x), dim=1)[:, 1]


class MTCNNRNet(nn.Module):
    """MTCNN's refinement network on 24 × 24 crops; its ``dense`` layer sees 3 × 3 × 64 maps.

    ``fully_convolutional=True`` replaces that dense layer (and the heads) by convolutions with the
    same weights, so that the network slides over larger images (stride 4).
    """

    def __init__(self, fully_convolutional: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 28, 3), nn.PReLU(28), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(28, 48, 3), nn.PReLU(48), nn.MaxPool2d(3, 2),
            nn.Conv2d(48, 64, 2), nn.PReLU(64),
        )  # fmt: skip
        self.dense, self.prelu = nn.Linear(576, 128), nn.PReLU(128)
        self.box, self.face = nn.Linear(128, 4), nn.Linear(128, 2)
        _load(self, "rnet")
        self.fully_convolutional = fully_convolutional
        if fully_convolutional:
            self.dense = dense_to_conv(self.dense, 64, 3, 3)
            self.box, self.face = (
                dense_to_conv(self.box, 128, 1, 1),
                dense_to_conv(self.face, 128, 1, 1),
            )

    def forward(self, images):
        x = self.body(images)  # (batch, 64, 3, 3) for 24 × 24 crops
        x = self.prelu(self.dense(x if self.fully_convolutional else x.flatten(1)))
        return self.box(x), torch.softmax(self.face(x), dim=1)[:, 1]


def _load(module: nn.Module, name: str) -> None:
    """Copy MTCNN's arrays (Keras layouts, layer order) into the layers of ``module``."""
    arrays = iter(mtcnn_weights(name))
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                layer.weight.copy_(torch.from_numpy(next(arrays).transpose(3, 2, 0, 1)))
                layer.bias.copy_(torch.from_numpy(next(arrays)))
            elif isinstance(layer, nn.Linear):
                kernel = next(arrays)
                if kernel.shape[0] == 576:  # stored for (width, height, channels): reorder to ours
                    kernel = kernel.reshape(3, 3, 64, -1).transpose(2, 1, 0, 3).reshape(576, -1)
                layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
                layer.bias.copy_(torch.from_numpy(next(arrays)))
            elif isinstance(layer, nn.PReLU):
                layer.weight.copy_(torch.from_numpy(next(arrays).reshape(-1)))
