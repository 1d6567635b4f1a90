"""Overhead of cnnkit.train.fit against a bare hand-written PyTorch loop (target: ratio ≤ 1.05).

Both train the same small CNN on the same data on the CPU. The two are alternated epoch by epoch in
one run (so drifts in machine load hit both alike), and the ratio of their median epoch times is
printed. Run: `python benchmarks/train_loop_overhead.py [--epochs N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from cnnkit import seed_everything, train


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def bare_epoch(model, loader, optimizer, loss_fn):
    model.train()
    for inputs, targets in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per loop")
    parser.add_argument("--examples", type=int, default=4096)
    args = parser.parse_args()
    seed_everything(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(args.examples, 1, 28, 28, generator=generator)
    targets = torch.randint(0, 10, (args.examples,), generator=generator)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, targets), batch_size=64
    )
    loss_fn = nn.CrossEntropyLoss()
    models = {name: small_cnn() for name in ("bare", "cnnkit")}
    optimizers = {
        name: torch.optim.Adam(model.parameters(), 1e-3) for name, model in models.items()
    }
    times = {"bare": [], "cnnkit": []}
    # One warm-up epoch each, then alternate, swapping which goes first every round.
    bare_epoch(models["bare"], loader, optimizers["bare"], loss_fn)
    train.fit(
        models["cnnkit"], loader, optimizer=optimizers["cnnkit"], loss_fn=loss_fn, progress=False
    )
    for round_ in range(args.epochs):
        order = ("bare", "cnnkit") if round_ % 2 == 0 else ("cnnkit", "bare")
        for name in order:
            start = time.perf_counter()
            if name == "bare":
                bare_epoch(models[name], loader, optimizers[name], loss_fn)
            else:
                # progress=True: the real notebook configuration, tqdm bar included.
                train.fit(
                    models[name], loader, optimizer=optimizers[name], loss_fn=loss_fn, progress=True
                )
            times[name].append(time.perf_counter() - start)
    bare, kit = statistics.median(times["bare"]), statistics.median(times["cnnkit"])
    print(f"examples per epoch: {args.examples}, timed epochs per loop: {args.epochs}")
    print(f"bare loop   median epoch: {bare:.3f} s")
    print(f"cnnkit.fit  median epoch: {kit:.3f} s (progress bar, loss and accuracy tracking)")
    print(f"ratio cnnkit/bare: {kit / bare:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
