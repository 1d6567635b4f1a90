"""Chapter 6 in one run: our IoU and NMS against the libraries', then the grid detector's mAP.

    python benchmarks/detection.py [--boxes 3000] [--no-train] [--ablation]

Part 1 times ``cnnkit.boxes.iou`` and ``nms`` against ``torchvision.ops``, ``keras.utils.bounding_boxes``
and ``tf.image.non_max_suppression`` on the same few thousand boxes, checks the results are equal
and prints time ratios. Part 2 trains the chapter's grid detector in both frameworks with the
profile's sizes and settings (the chapter's, copied) and prints training time, mAP@0.5 and COCO mAP on test scenes whose digits the
models never saw (wall time and CPU time: on a busy machine CPU time / threads estimates the wall
time of a quiet one). ``--ablation`` then undoes each choice of the chapter's recipe in turn (fewer
scenes, a lower learning rate, three anchors, Keras's default initialisation) for as many steps.
"""

from __future__ import annotations

import argparse
import itertools
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


# The chapter's recipe, and the variants --ablation trains: each undoes one of its choices, with the
# same number of steps (so that fewer scenes means more epochs over them).
RECIPE = {"num_train": 8_000, "peak": 1e-2, "num_anchors": 1, "keras_init": "torch"}
ABLATIONS = {
    "1,500 scenes": {"num_train": 1_500},
    "peak learning rate 3e-3": {"peak": 3e-3},
    "3 anchors per cell": {"num_anchors": 3},
    "Keras's default initialisation (Glorot)": {"keras_init": "glorot"},
}


def train_detector(framework: str, *, num_train, peak, num_anchors, keras_init, steps=None) -> dict:
    """Train the chapter's grid detector in one framework; its test scores and training times."""
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
    num_test = cnnkit.pick(quick=200, full=2_000)
    num_train = cnnkit.pick(quick=num_train, full=5 * num_train)
    data = grid_data(num_train, num_test, num_anchors=num_anchors, stride=8, image_size=96,
                     digit_sizes=(16, 40), seed=0)  # fmt: skip
    steps = steps or cnnkit.pick(quick=1_000, full=25 * -(-num_train // 32))
    with Stopwatch() as watch:
        if framework == "keras":
            model = detection_keras.grid_detector(num_anchors, 10)
            if keras_init == "glorot":
                for layer in model.layers:
                    if isinstance(layer, keras.layers.Conv2D):
                        layer.kernel.assign(keras.initializers.GlorotUniform()(layer.kernel.shape))
            schedule = detection_keras.warmup_cosine(steps, peak)
            model.compile(optimizer=keras.optimizers.Adam(schedule, epsilon=1e-8),
                          loss=detection_keras.GridLoss(num_anchors, 10))  # fmt: skip
            dataset = keras_dataset(data.train.images, data.targets).repeat().batch(32)
            # tf.data shuffles (and reshuffles on each pass over the scenes)
            model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
            outputs = detection_keras.grid_outputs(model, data.test.images, num_anchors)
        else:
            model = detection_torch.grid_detector(num_anchors, 10)
            dataset = torch.utils.data.TensorDataset(
                torch.from_numpy(nhwc_to_nchw(data.train.images)), torch.from_numpy(data.targets)
            )
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(42)
            )
            optimizer = torch.optim.Adam(model.parameters(), eps=1e-8)
            scheduler = detection_torch.warmup_cosine(optimizer, steps, peak)
            fit(model, itertools.islice(_epochs(loader), steps), optimizer=optimizer,
                loss_fn=detection_torch.GridLoss(num_anchors, 10), scheduler=scheduler,
                progress=False)  # fmt: skip
            outputs = detection_torch.grid_outputs(model, data.test.images, num_anchors)
    truths = list(zip(data.test.boxes, data.test.labels, strict=True))
    scores = metrics.coco_map(boxes.grid_detections(outputs, data.anchors, data.stride), truths)
    return {"steps": steps, "wall": watch.wall, "cpu": watch.cpu, **scores}


def keras_dataset(images, targets):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, targets)).shuffle(len(images), seed=42)


def _epochs(loader):
    while True:
        yield from loader


def train_detectors(ablation: bool, steps: int | None = None, scenes: int | None = None) -> None:
    """The chapter's grid detector as the notebook trains it, in both frameworks; then the ablation.

    ``steps`` and ``scenes`` replace the profile's sizes (the suite's smoke test trains a few steps).
    """
    import cnnkit

    recipe = {**RECIPE, **({"num_train": scenes} if scenes else {})}
    print(f"profile {cnnkit.get_profile()}: the chapter's recipe {recipe}")
    results = {}
    for framework in ("keras", "torch"):
        results[framework] = r = train_detector(framework, **recipe, steps=steps)
        print(f"{framework}: {r['steps']} steps, training {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU "
              f"; mAP@0.5 {r['map_50']:.3f}, COCO mAP@[.5:.95] {r['map']:.3f}")  # fmt: skip
    ratio = results["keras"]["map_50"] / max(results["torch"]["map_50"], 1e-9)
    print(f"mAP@0.5 Keras / PyTorch: {ratio:.2f}")
    if not ablation:
        return
    for name, change in ABLATIONS.items():
        framework = "keras" if "keras_init" in change else "torch"
        r = train_detector(framework, **{**recipe, **change}, steps=results[framework]["steps"])
        print(f"without the recipe's choice, {name} ({framework}): mAP@0.5 {r['map_50']:.3f} "
              f"({r['map_50'] / max(results[framework]['map_50'], 1e-9):.2f} × the recipe's), "
              f"COCO mAP {r['map']:.3f}; {r['cpu']:.0f} s CPU")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=3000)
    parser.add_argument("--no-train", action="store_true", help="only compare IoU and NMS")
    parser.add_argument("--ablation", action="store_true",
                        help="also train with each of the recipe's choices undone, one at a time")  # fmt: skip
    parser.add_argument("--steps", type=int, help="training steps (default: the profile's)")
    parser.add_argument("--scenes", type=int, help="training scenes (default: the recipe's)")
    args = parser.parse_args(argv)
    compare_boxes(args.boxes)
    if not args.no_train:
        train_detectors(args.ablation, args.steps, args.scenes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
