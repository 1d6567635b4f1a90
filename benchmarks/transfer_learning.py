"""Transfer learning on tf_flowers in Keras and PyTorch: pretrained vs random weights, in one run.

The recipe of chapter 5 (book/05_transfer_learning.ipynb): MobileNetV2's base, frozen, with a new
linear head trained on its features of the training photos (computed once: the frozen base in
inference mode gives the same features at every epoch); then, for the pretrained base only, the top
4 blocks unfrozen and fine-tuned on augmented photos with a 100 times lower learning rate. The same
network with random weights gets the same frozen-base schedule. Prints, per framework, the test
accuracy of each (with its count: one photo of 20 is 5 points) and the time of each step.

Offline the data are the 200 real photos of ../shared/data (150 training, 30 validation, 20 test);
online, tf_flowers' 3,670. Run: ``python benchmarks/transfer_learning.py`` (``CNNKIT_PROFILE``).
"""

from __future__ import annotations

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
FINE_TUNE_LEARNING_RATE = HEAD_LEARNING_RATE / 100  # for the unfrozen blocks (PyTorch's head: 10 times more)


@contextlib.contextmanager
def timed(seconds: dict, name: str):
    """Add the wall-clock seconds of the block to ``seconds[name]``."""
    start = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start


def run_keras(splits, weights, fine_tune_epochs, seconds):
    import keras

    from cnnkit.photos import keras as photos
    from cnnkit.pretrained import keras as pretrained

    test, valid, train = splits
    model = pretrained.frozen_classifier(
        pretrained.mobilenet_v2(weights=weights, include_top=False), NUM_CLASSES
    )

    def batches(split, **kwargs):
        return photos.photo_batches(
            split, preprocess=pretrained.preprocess_input, batch_size=BATCH_SIZE, **kwargs
        )

    features = keras.Model(model.input, model.get_layer("pool").output)
    with timed(seconds, "features"):
        x_train, y_train = pretrained.extract_features(features, batches(train))
        x_test, y_test = pretrained.extract_features(features, batches(test))
    head = keras.Sequential([keras.Input(x_train.shape[1:]), model.get_layer("head")])
    head.compile(
        optimizer=keras.optimizers.SGD(HEAD_LEARNING_RATE, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    with timed(seconds, "head"):
        head.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=HEAD_EPOCHS, verbose=0)
    results = {"frozen": correct(head.predict(x_test, verbose=0), y_test)}
    if weights is None:
        return results
    pretrained.unfreeze_top(model, FINE_TUNE_BLOCKS)
    train_batches = batches(train, augment=photos.augmentation(seed=42), shuffle=True, seed=42)
    schedule = keras.optimizers.schedules.CosineDecay(
        FINE_TUNE_LEARNING_RATE, fine_tune_epochs * len(train_batches)
    )
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    with timed(seconds, "fine-tuning"):
        model.fit(train_batches, epochs=fine_tune_epochs, verbose=0)
    test_batches = batches(test)
    results["fine-tuned"] = correct(model.predict(test_batches, verbose=0), y_test)
    return results


def run_torch(splits, weights, fine_tune_epochs, seconds):
    import torch
    from torch import nn

    from cnnkit.device import torch_device
    from cnnkit.photos import torch as photos
    from cnnkit.pretrained import torch as pretrained
    from cnnkit.train import fit

    test, valid, train = splits
    device = torch_device()
    model = pretrained.frozen_classifier(
        pretrained.mobilenet_v2(weights=weights, include_top=False), NUM_CLASSES
    )
    model.to(device)

    def batches(split, **kwargs):
        return photos.photo_batches(
            split, preprocess=pretrained.preprocess_input, batch_size=BATCH_SIZE, **kwargs
        )

    with timed(seconds, "features"):
        x_train, y_train = pretrained.extract_features(
            nn.Sequential(model.base, model.pool), batches(train)
        )
        x_test, y_test = pretrained.extract_features(
            nn.Sequential(model.base, model.pool), batches(test)
        )
    features = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    loader = torch.utils.data.DataLoader(
        features, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(42)
    )
    optimizer = torch.optim.SGD(model.head.parameters(), lr=HEAD_LEARNING_RATE, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    with timed(seconds, "head"):
        fit(
            model.head,
            loader,
            optimizer=optimizer,
            loss_fn=loss_fn,
            num_epochs=HEAD_EPOCHS,
            progress=False,
        )
    with torch.no_grad():
        logits = model.head(torch.from_numpy(x_test).to(device)).cpu().numpy()
    results = {"frozen": correct(logits, y_test)}
    if weights is None:
        return results
    pretrained.unfreeze_top(model, FINE_TUNE_BLOCKS)
    train_batches = batches(train, augment=photos.augmentation(), shuffle=True, seed=42)
    top = [p for p in model.base.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        [
            {"params": top, "lr": FINE_TUNE_LEARNING_RATE},
            {"params": model.head.parameters(), "lr": 10 * FINE_TUNE_LEARNING_RATE},
        ],
        momentum=0.9,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, fine_tune_epochs * len(train_batches)
    )
    optimizer.register_step_post_hook(lambda *_: scheduler.step())
    with timed(seconds, "fine-tuning"):
        fit(
            model,
            train_batches,
            optimizer=optimizer,
            loss_fn=loss_fn,
            num_epochs=fine_tune_epochs,
            progress=False,
        )
    logits, labels = pretrained.extract_features(model, batches(test))
    results["fine-tuned"] = correct(logits, labels)
    return results


def correct(scores, labels) -> tuple[int, int]:
    """(number of right predictions, number of photos)."""
    return int(np.sum(np.argmax(scores, axis=1) == np.asarray(labels))), len(labels)


def main() -> None:
    import keras
    import torch

    fine_tune_epochs = cnnkit.pick(quick=2, full=10)
    splits, info = cnnkit.data.load_tf_flowers()
    print(
        f"profile: {cnnkit.get_profile()}; tf_flowers: {info.splits['train'].num_examples:,} photos "
        f"(test {len(splits[0])}, validation {len(splits[1])}, training {len(splits[2])}); "
        f"torch threads: {torch.get_num_threads()}"
    )
    for name, run in (("Keras", run_keras), ("PyTorch", run_torch)):
        for weights in ("imagenet", None):
            cnnkit.seed_everything(42)
            keras.utils.set_random_seed(42)
            seconds = {}
            results = run(splits, weights, fine_tune_epochs, seconds)
            scores = ", ".join(
                f"{stage} {right}/{total} = {right / total:.0%}"
                for stage, (right, total) in results.items()
            )
            times = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in seconds.items())
            label = "pretrained (ImageNet)" if weights else "random weights       "
            print(f"{name:8s} {label}: test {scores}  | {times}")


if __name__ == "__main__":
    main()
