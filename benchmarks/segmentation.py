"""Chapter 7's ladder of FCNs in Keras and PyTorch, in one run: test mean IoU and training time.

The networks, scenes and recipe of book/07_semantic_segmentation.ipynb (``cnnkit.segmentation.
ladder``): MobileNetV2's ImageNet weights in both frameworks (torchvision's file), the encoder's
maps computed once, FCN-32s and FCN-8s on the frozen encoder, and FCN-8s fine-tuned; the heads of
the two frameworks start from the same weights. Prints, per framework and network, the test mean
IoU over the 11 classes, over digit vs background, and the CPU and wall-clock seconds of its
training (CPU: all threads of this process; with one thread the two agree on an idle machine).
Ends with the ceiling of a perfect prediction at strides 8 and 32 on the same test scenes.

Run: ``python benchmarks/segmentation.py`` (``CNNKIT_PROFILE``: quick, 960 training scenes;
full, 6,000). For a fair timing pin it to one core: ``OMP_NUM_THREADS=1 taskset -c 1 python ...``.
``--scenes TRAIN TEST --epochs HEAD TUNE`` replace the profile's sizes (a quick check that it runs).
"""

from __future__ import annotations

import argparse
import os
import time

import cnnkit
from cnnkit import scenes, segmentation
from cnnkit.segmentation import ladder

SCENES = dict(image_size=96, digit_sizes=(30, 56), stroke=1)  # as in the chapter
NUM_CLASSES = 1 + len(scenes.CLASS_NAMES)


def ceiling(masks, stride: int) -> segmentation.Scores:
    """The scores of the true masks pooled to class shares at ``stride``, resized back bilinearly."""
    import torch
    import torch.nn.functional as F

    one_hot = F.one_hot(torch.from_numpy(masks).long(), NUM_CLASSES).permute(0, 3, 1, 2).float()
    back = F.interpolate(F.avg_pool2d(one_hot, stride), scale_factor=stride, mode="bilinear")
    return segmentation.score(masks, back.argmax(1).numpy(), NUM_CLASSES)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, nargs=2, metavar=("TRAIN", "TEST"),
                        default=cnnkit.pick(quick=(960, 150), full=(6_000, 1_000)))  # fmt: skip
    parser.add_argument("--epochs", type=int, nargs=2, metavar=("HEAD", "TUNE"),
                        default=cnnkit.pick(quick=(2, 5), full=(5, 15)))  # fmt: skip
    args = parser.parse_args(argv)
    import keras  # noqa: F401 - TensorFlow first, then torchvision (see ENVIRONMENT.md)
    import torch

    import cnnkit.segmentation.keras as seg_keras
    import cnnkit.segmentation.torch as seg_torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or None
    if threads:
        import tensorflow as tf

        torch.set_num_threads(threads)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    cnnkit.seed_everything(42)
    train = scenes.make_scenes(args.scenes[0], "train", seed=0, **SCENES)
    test = scenes.make_scenes(args.scenes[1], "test", seed=0, **SCENES)
    budget = ladder.Budget(*args.epochs)
    keras_heads, torch_heads = ladder.twin_heads(seg_keras, seg_torch, NUM_CLASSES)
    print(f"profile {cnnkit.get_profile()}: {len(train)} training scenes, {len(test)} test scenes, "
          f"{budget.num_epochs} epochs ({budget.head_epochs} + {budget.tune_epochs} fine-tuning)")  # fmt: skip
    rows = {}
    for name, kit, heads in [
        ("PyTorch", seg_torch, torch_heads),
        ("Keras", seg_keras, keras_heads),
    ]:
        stages = kit.mobilenet_v2_stages("imagenet")
        start_cpu, start = time.process_time(), time.perf_counter()
        train_maps = kit.compute_maps(stages, kit.preprocess_scenes(train.images))
        test_maps = kit.compute_maps(stages, kit.preprocess_scenes(test.images))
        print(f"{name}: encoder maps in {time.process_time() - start_cpu:.1f} s CPU, "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        rows[name] = ladder.climb(kit, heads, stages, train_maps, train.masks, test_maps,
                                  test.masks, budget, NUM_CLASSES)  # fmt: skip
    print(
        f"\n{'network':<20}{'framework':>10}{'mean IoU':>10}{'digit/bg':>10}{'CPU s':>8}{'wall s':>8}"
    )
    for rung in ladder.RUNGS:
        for name, results in rows.items():
            r = results[rung]
            print(f"{rung:<20}{name:>10}{r.scores.mean_iou:>10.3f}"
                  f"{r.scores.foreground_mean_iou:>10.3f}{r.cpu_seconds:>8.1f}{r.seconds:>8.1f}")  # fmt: skip
    for stride in (8, 32):
        best = ceiling(test.masks, stride)
        print(f"ceiling at stride {stride:>2}: mean IoU {best.mean_iou:.3f}, "
              f"digit/bg {best.foreground_mean_iou:.3f}")  # fmt: skip
    for name, results in rows.items():
        values = [results[rung].scores.mean_iou for rung in ladder.RUNGS]
        ordered = all(a > b for a, b in zip(values, values[1:]))  # noqa: B905
        print(f"{name}: each rung above the next (mean IoU): {ordered}")
    print(f"total {time.process_time():.0f} s CPU")


if __name__ == "__main__":
    main()
