"""Chapter 6 in one run: our IoU and NMS against the libraries', then the grid detector's mAP.

    python benchmarks/detection.py [--boxes 3000] [--no-train]

Part 1 times ``cnnkit.boxes.iou`` and ``nms`` against ``torchvision.ops``, ``keras.utils.bounding_boxes``
and ``tf.image.non_max_suppression`` on the same few thousand boxes, checks the results are equal
and prints time ratios. Part 2 trains the chapter's grid detector in both frameworks with the
profile's sizes and settings (the chapter's, copied) and prints training time, mAP@0.5 and COCO mAP on test scenes whose digits the
models never saw (wall time and CPU time: on a busy machine CPU time / threads estimates the wall
time of a quiet one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best_of(function, repeats=5):
    """The best wall time of ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def compare_boxes(count: int) -> None:
    import keras
    import tensorflow as tf
    import torch
    import torchvision

    from cnnkit import boxes

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 1000, (count, 2))
    b = np.hstack([corner, corner + rng.uniform(5, 120, (count, 2))]).astype(np.float32)
    scores = rng.random(count).astype(np.float32)
    tb, ts = torch.from_numpy(b), torch.from_numpy(scores)
    print(f"{count:,} random boxes; best of 5 runs")
    ours_t, ours = best_of(lambda: boxes.iou(b, b))
    torch_t, theirs = best_of(lambda: torchvision.ops.box_iou(tb, tb).numpy())
    keras_t, keras_iou = best_of(
        lambda: keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(b, b, "xyxy"))
    )
    print(f"IoU ({count} x {count}): ours {ours_t * 1e3:.1f} ms | torchvision {torch_t * 1e3:.1f} ms "
          f"(ours / theirs {ours_t / torch_t:.1f}) | keras {keras_t * 1e3:.1f} ms ({ours_t / keras_t:.1f}); "
          f"largest difference {max(np.abs(ours - theirs).max(), np.abs(ours - keras_iou).max()):.1e}")  # fmt: skip
    for threshold in (0.3, 0.5, 0.7):
        ours_t, ours = best_of(lambda t=threshold: boxes.nms(b, scores, t))
        torch_t, theirs = best_of(lambda t=threshold: torchvision.ops.nms(tb, ts, t).numpy())
        tf_t, tf_kept = best_of(
            lambda t=threshold: tf.image.non_max_suppression(
                b[:, [1, 0, 3, 2]], scores, count, t
            ).numpy()
        )
        same = np.array_equal(ours, theirs) and np.array_equal(ours, tf_kept)
        print(f"NMS at IoU {threshold}: {len(ours)} kept, equal to both: {same}; ours {ours_t * 1e3:.1f} ms | "
              f"torchvision {torch_t * 1e3:.1f} ms (ratio {ours_t / torch_t:.1f}) | "
              f"tf.image {tf_t * 1e3:.1f} ms (ratio {ours_t / tf_t:.1f})")  # fmt: skip
        if not same:
            raise SystemExit("NMS results differ")


def train_detectors() -> None:
    """The chapter's grid detector, trained as in the notebook (same settings), in both frameworks."""
    import math

    import keras
    import torch

    import cnnkit
    from cnnkit import boxes, metrics
    from cnnkit.data import nhwc_to_nchw
    from cnnkit.detection import grid_data
    from cnnkit.detection import keras as detection_keras
    from cnnkit.detection import torch as detection_torch
    from cnnkit.results import Stopwatch
    from cnnkit.train import fit

    cnnkit.seed_everything(42)
    sizes = cnnkit.pick(
        quick={"num_train": 8_000, "num_test": 200}, full={"num_train": 40_000, "num_test": 2_000}
    )
    num_epochs, peak = cnnkit.pick(quick=4, full=25), 1e-2
    data = grid_data(**sizes, num_anchors=1, stride=8, image_size=96, digit_sizes=(16, 40), seed=0)
    truths = list(zip(data.test.boxes, data.test.labels, strict=True))
    steps = num_epochs * math.ceil(len(data.train) / 32)
    print(f"profile {cnnkit.get_profile()}: {len(data.train)} training scenes, {len(data.test)} test scenes "
          f"(unseen digits), {num_epochs} epochs = {steps} steps, anchor {np.round(data.anchors, 1).tolist()}")  # fmt: skip

    def train_keras():
        model = detection_keras.grid_detector(1, 10)
        optimizer = keras.optimizers.Adam(detection_keras.warmup_cosine(steps, peak), epsilon=1e-8)
        model.compile(optimizer=optimizer, loss=detection_keras.GridLoss(1, 10))
        model.fit(data.train.images, data.targets, batch_size=32, epochs=num_epochs, verbose=0)
        return lambda: detection_keras.grid_outputs(model, data.test.images, 1)

    def train_torch():
        model = detection_torch.grid_detector(1, 10)
        dataset = torch.utils.data.TensorDataset(
            torch.from_numpy(nhwc_to_nchw(data.train.images)), torch.from_numpy(data.targets)
        )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(42)
        )
        optimizer = torch.optim.Adam(model.parameters(), eps=1e-8)
        scheduler = detection_torch.warmup_cosine(optimizer, steps, peak)
        fit(model, loader, optimizer=optimizer, loss_fn=detection_torch.GridLoss(1, 10), num_epochs=num_epochs,
            scheduler=scheduler, progress=False)  # fmt: skip
        return lambda: detection_torch.grid_outputs(model, data.test.images, 1)

    results = {}
    for framework, train in (("keras", train_keras), ("torch", train_torch)):
        with Stopwatch() as watch:
            outputs = train()
        found = boxes.grid_detections(outputs(), data.anchors, data.stride)
        results[framework] = scores = metrics.coco_map(found, truths)
        print(f"{framework}: training {watch.wall:.0f} s wall, {watch.cpu:.0f} s CPU; mAP@0.5 {scores['map_50']:.3f}, "
              f"COCO mAP@[.5:.95] {scores['map']:.3f}")  # fmt: skip
    ratio = results["keras"]["map_50"] / max(results["torch"]["map_50"], 1e-9)
    print(f"mAP@0.5 Keras / PyTorch: {ratio:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=3000)
    parser.add_argument("--no-train", action="store_true", help="only compare IoU and NMS")
    args = parser.parse_args(argv)
    compare_boxes(args.boxes)
    if not args.no_train:
        train_detectors()
    return 0


if __name__ == "__main__":
    sys.exit(main())
