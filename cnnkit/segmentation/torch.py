"""Fully convolutional segmentation in PyTorch: FCN-32s, FCN-16s and FCN-8s on MobileNetV2's maps.

The same names as ``cnnkit.segmentation.keras``. The encoder is torchvision's MobileNetV2 cut into
three stages whose outputs are the maps at strides 8, 16 and 32 (``mobilenet_v2_stages``). The
head (``FCNHead``) scores each map with a 1 × 1 convolution, upsamples the coarsest by 2 with a
transposed convolution initialized to bilinear interpolation, adds the next finer scores, and so
on, then upsamples the result to the image's size. ``FCN`` chains stages and a head, and can start
from maps computed once beforehand (``compute_maps``): a frozen stage need not run at every step.
Tensors are in PyTorch's layout, ``(batch, channels, height, width)``; the head outputs logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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

VARIANTS = {"32s": 1, "16s": 2, "8s": 3}  # how many of the maps (coarsest first) the head uses
STAGE_CHANNELS = (32, 96, 320)  # MobileNetV2's maps at strides 8, 16 and 32
_STAGE_ENDS = (7, 14, 18)  # torchvision's features[:7], [7:14], [14:18]


def bilinear_upsampling(depth: int, factor: int, trainable: bool = True) -> nn.ConvTranspose2d:
    """A transposed convolution that multiplies height and width by ``factor``, each channel on
    its own, initialized to bilinear interpolation (``cnnkit.upsampling.bilinear_kernel``)."""
    depth, factor = positive_int(depth, "depth"), positive_int(factor, "factor")
    kernel = 2 * factor - factor % 2
    layer = nn.ConvTranspose2d(depth, depth, kernel, factor, padding=factor // 2, bias=False)
    # Keras's layout (k, k, out, in) → PyTorch's (in, out, k, k): the same numbers for a diagonal
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(bilinear_weights(factor, depth).transpose(3, 2, 0, 1)))
    layer.weight.requires_grad_(trainable)
    return layer


class FCNHead(nn.Module):
    """FCN's decoder on maps at strides 8, 16 and 32: ``forward(map8, map16, map32)`` → logits
    ``(batch, num_classes, 8 × height of map8, ...)``.

    ``variant`` "32s" scores the stride-32 map only and upsamples it by 32; "16s" adds the scores of
    the stride-16 map (skip connection) and upsamples by 16; "8s" adds those of the stride-8 map
    too and upsamples by 8. The scores of the skips start at zero (so each variant starts as the
    coarser one); the ×2 upsamplings are transposed convolutions that start bilinear and train;
    the last upsampling is a fixed bilinear resize (what a frozen bilinear transposed convolution
    computes away from the border, for less work).
    """

    def __init__(self, in_channels=STAGE_CHANNELS, num_classes: int = 11, variant: str = "8s"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if len(in_channels) != 3:
            raise ValueError(f"in_channels must give the channels of 3 maps, got {in_channels!r}")
        num_classes = positive_int(num_classes, "num_classes")
        used = VARIANTS[variant]
        self.variant = variant
        channels = list(in_channels)[::-1][:used]  # coarsest first
        self.scores = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in channels)
        for score in self.scores[1:]:
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
        self.doublings = nn.ModuleList(bilinear_upsampling(num_classes, 2) for _ in range(used - 1))
        factor = 32 // 2 ** (used - 1)
        self.final = nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False)

    def forward(self, map8, map16, map32):
        maps = (map32, map16, map8)[: len(self.scores)]
        logits = self.scores[0](maps[0])
        for double, score, skip in zip(self.doublings, self.scores[1:], maps[1:], strict=True):
            logits = double(logits) + score(skip)  # the skip connection
        return self.final(logits)


class FCN(nn.Module):
    """``stages`` (the encoder's last ones, possibly none), then ``head`` on the last three maps.

    Call it on images with all three stages, or on maps computed once beforehand with fewer:
    ``FCN(head, stages[1:])(map8)``, ``FCN(head)(map8, map16, map32)``. With ``keep_statistics``
    the stages' BatchNorm layers keep their (pretrained) statistics in training mode too.
    """

    def __init__(self, head: FCNHead, stages=(), keep_statistics: bool = True):
        super().__init__()
        self.head, self.stages = head, nn.ModuleList(stages)
        self.keep_statistics = keep_statistics

    def forward(self, *inputs):
        maps = list(inputs)
        for stage in self.stages:
            maps.append(stage(maps[-1]))
        if len(maps) < 3:
            raise ValueError(f"the head needs 3 maps, got {len(maps)}: give more inputs or stages")
        return self.head(*maps[-3:])

    def train(self, mode: bool = True):
        super().train(mode)
        if self.keep_statistics:
            for layer in self.stages.modules():
                if isinstance(layer, nn.BatchNorm2d):
                    layer.eval()
        return self


def mobilenet_v2_stages(weights: str | None = "imagenet") -> list[nn.Sequential]:
    """torchvision's MobileNetV2 features in 3 stages: images → stride 8 (32 channels) → stride 16
    (96) → stride 32 (320). ``weights``: "imagenet" (real, ``cnnkit.pretrained``) or None (random).

    Without its last 1 × 1 convolution (to 1,280 channels), which only served the classifier.
    """
    from cnnkit.pretrained.torch import mobilenet_v2

    features = mobilenet_v2(weights=weights, include_top=False)
    starts = (0, *_STAGE_ENDS[:-1])
    return [features[a:b] for a, b in zip(starts, _STAGE_ENDS, strict=True)]


def compute_maps(stages, inputs, batch_size: int = 64, device=None) -> list[np.ndarray]:
    """Run ``inputs`` through ``stages`` once, in eval mode, without gradients: every stage's maps.

    ``inputs``: a NumPy array or tensor ``(n, channels, height, width)`` (for the first stage:
    preprocessed images). Returns one NumPy array per stage, ``(n, channels, height, width)``.
    """
    batch_size = positive_int(batch_size, "batch_size")
    device = torch.device(device or "cpu")
    outputs = [[] for _ in stages]
    for stage in stages:
        stage.to(device).eval()
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.as_tensor(inputs[start : start + batch_size], dtype=torch.float32)
            x = x.to(device)
            for stage, kept in zip(stages, outputs, strict=True):
                x = stage(x)
                kept.append(x.cpu().numpy())
    return [np.concatenate(kept) for kept in outputs]


def map_batches(inputs, masks, *, batch_size: int = 16, shuffle: bool = False, seed: int = 0):
    """A ``DataLoader`` of ``(inputs, masks)`` batches for ``cnnkit.train.fit``.

    ``inputs``: one array or a tuple of arrays with the same first axis (images or maps, float32);
    ``masks``: ``(n, height, width)`` class labels. Reshuffled every epoch if ``shuffle``.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    tensors = [torch.as_tensor(np.asarray(x, np.float32)) for x in inputs]
    targets = torch.as_tensor(np.asarray(masks, np.int64))
    if any(len(t) != len(targets) for t in tensors):
        raise ValueError(
            f"inputs and masks differ in length: {[len(t) for t in tensors]} vs {len(targets)}"
        )

    def collate(indices):
        index = torch.as_tensor(indices)
        return tuple(t[index] for t in tensors), targets[index]

    return torch.utils.data.DataLoader(
        range(len(targets)), batch_size=positive_int(batch_size, "batch_size"), shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed), collate_fn=collate,
    )  # fmt: skip


def predict_masks(model, inputs, batch_size: int = 64, device=None) -> np.ndarray:
    """The class of every pixel, ``(n, height, width)`` int64, for ``model(*batch)`` in eval mode.

    ``inputs``: one array ``(n, ...)`` or a tuple of arrays (the model's inputs).
    """
    batch_size = positive_int(batch_size, "batch_size")
    device = torch.device(device or next(model.parameters()).device)
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    model.eval()
    masks = []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch_size):
            batch = [torch.as_tensor(x[start : start + batch_size], dtype=torch.float32).to(device)
                     for x in inputs]  # fmt: skip
            masks.append(model(*batch).argmax(dim=1).cpu().numpy())
    return np.concatenate(masks)


def train_fcn(model, inputs, masks, *, learning_rate: float, num_epochs: int, batch_size: int = 16,
              background_weight: float = 0.3, seed: int = 42, device=None) -> dict:  # fmt: skip
    """The chapter's recipe: Adam with a cosine decay to 0 over all steps, and cross-entropy per
    pixel with the background's pixels weighted ``background_weight`` (the digits' 1), averaged
    over all pixels (as Keras averages sample-weighted losses). Trains the parameters that
    require gradients with ``cnnkit.train.fit``; returns its history."""
    from cnnkit.train import fit

    torch.manual_seed(seed)
    batches = map_batches(inputs, masks, batch_size=batch_size, shuffle=True, seed=seed)
    steps = positive_int(num_epochs, "num_epochs") * len(batches)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    def loss_fn(logits, targets):
        weights = torch.where(targets == 0, background_weight, 1.0)
        return (F.cross_entropy(logits, targets, reduction="none") * weights).mean()

    device = torch.device(device) if device is not None else next(model.parameters()).device
    return fit(model.to(device), batches, optimizer=optimizer, loss_fn=loss_fn,
               num_epochs=num_epochs, progress=False, scheduler=scheduler)  # fmt: skip


def preprocess_scenes(images) -> np.ndarray:
    """Scenes ``(n, height, width, 3)`` in [0, 1] → MobileNetV2's input, ``(n, 3, height, width)``."""
    from cnnkit.data import nhwc_to_nchw
    from cnnkit.pretrained.torch import preprocess_input

    nchw = nhwc_to_nchw(np.asarray(images, np.float32) * 255)
    return preprocess_input(torch.from_numpy(nchw)).numpy()
