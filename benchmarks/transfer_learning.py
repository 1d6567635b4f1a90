"""Transfer learning on tf_flowers in Keras and PyTorch: pretrained vs random weights, in one run.

The recipe of chapter 5 (book/05_transfer_learning.ipynb): MobileNetV2's base, frozen, with a new
linear head trained on its features of the training photos (computed once: the frozen base in
inference mode gives the same features at every epoch); then, for the pretrained base only, the top
4 blocks unfrozen and fine-tuned on augmented photos with a 100 times lower learning rate. The same
network with random weights gets the same frozen-base schedule, and a second new head trained on its
features rescaled to unit variance (untrained BatchNorm statistics shrink them to about 1e-9, which
starves the first head of gradient). Prints, per framework, the test accuracy of each (with its
count: one photo of 20 is 5 points) and the time of each step.

Offline the data are the 200 real photos of ../shared/data (150 training, 30 validation, 20 test);
online, tf_flowers' 3,670. Run: ``python benchmarks/transfer_learning.py`` (``CNNKIT_PROFILE``;
``--photos N`` keeps the first N photos of each split, a quick check that it runs).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import cnnkit
import cnnkit.data

NUM_CLASSES = 5
BATCH_SIZE = 32
HEAD_EPOCHS = 10
HEAD_LEARNING_RATE = 0.01
FINE_TUNE_BLOCKS = 4
FINE_TUNE_LEARNING_RATE = (
    HEAD_LEARNING_RATE / 100
)  # the unfrozen blocks (PyTorch's head: 10 times more)


@contextlib.contextmanager
def timed(seconds: dict, name: str):
    """Add the wall-clock seconds of the block to ``seconds[name]``."""
    start = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start


def rescaled(x, x_train):
    """Features rescaled with the training features' mean and standard deviation (unit variance)."""
    return (x - x_train.mean(axis=0)) / (x_train.std(axis=0) + 1e-30)


def correct(scores, labels) -> tuple[int, int]:
    """(number of right predictions, number of photos)."""
    return int(np.sum(np.argmax(scores, axis=1) == np.asarray(labels))), len(labels)


def run_keras(splits, weights, fine_tune_epochs, seconds):
    import keras

    from cnnkit.photos import keras as photos
    from cnnkit.pretrained import keras as pretrained

    test, _, train = splits
    base = pretrained.mobilenet_v2(weights=weights, include_top=False)
    model = pretrained.frozen_classifier(base, NUM_CLASSES)

    def batches(split, **kwargs):
        return photos.photo_batches(
            split, preprocess=pretrained.preprocess_input, batch_size=BATCH_SIZE, **kwargs
        )

    def train_head(layer, x, y):
        head = keras.Sequential([keras.Input(x.shape[1:]), layer])
        head.compile(
            optimizer=keras.optimizers.SGD(HEAD_LEARNING_RATE, momentum=0.9),
            loss="sparse_categorical_crossentropy",
        )
        head.fit(x, y, batch_size=BATCH_SIZE, epochs=HEAD_EPOCHS, verbose=0)
        return head

    pooled = keras.Model(model.input, model.get_layer("pool").output)
    with timed(seconds, "features"):
        x_train, y_train = pretrained.extract_features(pooled, batches(train))
        x_test, y_test = pretrained.extract_features(pooled, batches(test))
    with timed(seconds, "head"):
        head = train_head(model.get_layer("head"), x_train, y_train)
    results = {"frozen": correct(head.predict(x_test, verbose=0), y_test)}
    if weights is None:
        new_layer = keras.layers.Dense(NUM_CLASSES, activation="softmax")
        head = train_head(new_layer, rescaled(x_train, x_train), y_train)
        results["rescaled"] = correct(head.predict(rescaled(x_test, x_train), verbose=0), y_test)
        return results
    pretrained.unfreeze_top(model, FINE_TUNE_BLOCKS)
    train_batches = batches(train, augment=photos.augmentation(seed=42), shuffle=True, seed=42)
    schedule = keras.optimizers.schedules.CosineDecay(
        FINE_TUNE_LEARNING_RATE, fine_tune_epochs * len(train_batches)
    )
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    with timed(seconds, "fine-tuning"):
        model.fit(train_batches, epochs=fine_tune_epochs, verbose=0, shuffle=False)
    results["fine-tuned"] = correct(model.predict(batches(test), verbose=0), y_test)
    return results


def run_torch(splits, weights, fine_tune_epochs, seconds):
    import torch
    from torch import nn

    from cnnkit.device import select_torch
    from cnnkit.photos import torch as photos
    from cnnkit.pretrained import torch as pretrained
    from cnnkit.train import fit

    test, _, train = splits
    device = select_torch()
    base = pretrained.mobilenet_v2(weights=weights, include_top=False)
    model = pretrained.frozen_classifier(base, NUM_CLASSES).to(device)
    loss_fn = nn.CrossEntropyLoss()

    def batches(split, **kwargs):
        return photos.photo_batches(
            split, preprocess=pretrained.preprocess_input, batch_size=BATCH_SIZE, **kwargs
        )

    def train_head(head, x, y):
        features = torch.utils.data.TensorDataset(torch.from_numpy(x).float(), torch.from_numpy(y))
        loader = torch.utils.data.DataLoader(
            features,
            batch_size=BATCH_SIZE,
            shuffle=True,
            generator=torch.Generator().manual_seed(42),
        )
        optimizer = torch.optim.SGD(head.parameters(), lr=HEAD_LEARNING_RATE, momentum=0.9)
        fit(
            head,
            loader,
            optimizer=optimizer,
            loss_fn=loss_fn,
            num_epochs=HEAD_EPOCHS,
            progress=False,
        )

    def predict(head, x):
        with torch.no_grad():
            return head(torch.from_numpy(x).float().to(device)).cpu().numpy()

    pooled = nn.Sequential(model.base, model.pool)
    with timed(seconds, "features"):
        x_train, y_train = pretrained.extract_features(pooled, batches(train))
        x_test, y_test = pretrained.extract_features(pooled, batches(test))
    with timed(seconds, "head"):
        train_head(model.head, x_train, y_train)
    results = {"frozen": correct(predict(model.head, x_test), y_test)}
    if weights is None:
        head = nn.Linear(x_train.shape[1], NUM_CLASSES).to(device)
        train_head(head, rescaled(x_train, x_train), y_train)
        results["rescaled"] = correct(predict(head, rescaled(x_test, x_train)), y_test)
        return results
    pretrained.unfreeze_top(model, FINE_TUNE_BLOCKS)
    train_batches = batches(train, augment=photos.augmentation(), shuffle=True, seed=42)
    unfrozen = [p for p in model.base.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            {"params": unfrozen, "lr": FINE_TUNE_LEARNING_RATE},
            {"params": model.head.parameters(), "lr": 10 * FINE_TUNE_LEARNING_RATE},
        ],
        momentum=0.9,
    )
    steps = fine_tune_epochs * len(train_batches)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    optimizer.register_step_post_hook(lambda *_: scheduler.step())
    with timed(seconds, "fine-tuning"):
        fit(model, train_batches, optimizer=optimizer, loss_fn=loss_fn,
            num_epochs=fine_tune_epochs, progress=False)  # fmt: skip
    logits, labels = pretrained.extract_features(model, batches(test))
    results["fine-tuned"] = correct(logits, labels)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", type=int, help="keep the first N photos of each split (default: all)"
    )
    photos = parser.parse_args(argv).photos
    import keras  # noqa: F401  (imported first, so that seed_everything seeds TensorFlow too)
    import torch

    fine_tune_epochs = cnnkit.pick(quick=1, full=10)
    splits, info = cnnkit.data.load_tf_flowers()
    if photos:
        splits = tuple(split.take(photos) for split in splits)
    print(
        f"profile: {cnnkit.get_profile()}; tf_flowers: {info.splits['train'].num_examples:,} photos "
        f"(test {len(splits[0])}, validation {len(splits[1])}, training {len(splits[2])}); "
        f"fine-tuning epochs: {fine_tune_epochs}; torch threads: {torch.get_num_threads()}",
        flush=True,
    )
    start = time.process_time()
    for name, run in (("Keras", run_keras), ("PyTorch", run_torch)):
        for weights in ("imagenet", None):
            cnnkit.seed_everything(42)
            seconds = {}
            results = run(splits, weights, fine_tune_epochs, seconds)
            scores = ", ".join(
                f"{stage} {right}/{total} = {right / total:.0%}"
                for stage, (right, total) in results.items()
            )
            times = ", ".join(f"{step} {value:.1f} s" for step, value in seconds.items())
            label = "pretrained (ImageNet)" if weights else "random weights       "
            print(f"{name:8s} {label}: test {scores}  | {times}", flush=True)
    print(f"CPU time of this process (all threads): {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
