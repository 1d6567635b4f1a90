"""One plain PyTorch training function with a progress bar, and a plot for Keras or PyTorch histories.

``fit`` returns a history dict with the same keys as Keras's ``History.history`` (``loss``,
``accuracy``, ``val_loss``, ``val_accuracy``), so ``plot_history`` draws both frameworks alike.
"""

from __future__ import annotations

import math


def _check_loader(name, loader):
    if loader is None:
        return
    if not hasattr(loader, "__iter__"):
        raise TypeError(
            f"{name} must be an iterable of (inputs, targets) batches, got {type(loader).__name__}"
        )


def _correct(outputs, targets) -> int | None:
    """How many class predictions are right; None unless the outputs are logits of 2+ classes."""
    if (
        not hasattr(outputs, "ndim")
        or targets.ndim != 1
        or outputs.ndim != 2
        or outputs.shape[1] < 2
    ):
        return None
    return (outputs.argmax(dim=1) == targets).sum().item()


def evaluate(model, loader, loss_fn, device=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader``, without gradients, in eval mode.

    Accuracy is reported only for class labels (targets of shape ``(batch,)``).
    """
    import torch

    _check_loader("loader", loader)
    device = device or next(model.parameters()).device
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            total_loss += loss_fn(outputs, targets).item() * len(targets)
            right = _correct(outputs, targets)
            correct = None if right is None or correct is None else correct + right
            count += len(targets)
    if count == 0:
        raise ValueError("loader yielded no batches: cannot evaluate on an empty dataset")
    scores = {"loss": total_loss / count}
    if correct is not None:
        scores["accuracy"] = correct / count
    return scores


def fit(
    model,
    train_loader,
    *,
    optimizer,
    loss_fn,
    num_epochs: int = 1,
    val_loader=None,
    device=None,
    progress: bool = True,
    scheduler=None,
) -> dict:
    """Train ``model`` for ``num_epochs`` epochs and return its history.

    ``train_loader`` and ``val_loader`` yield ``(inputs, targets)`` batches (a ``DataLoader``, or
    any iterable). Accuracy is measured when the targets are class labels ``(batch,)`` and the
    outputs class logits ``(batch, classes)``; other tasks (boxes, grids) get the loss only. A
    learning-rate ``scheduler`` steps after every batch. The progress bar shows the running loss
    and accuracy; pass ``progress=False`` for silent runs (tests, benchmarks).
    """
    import torch
    from tqdm.auto import tqdm

    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}")
    _check_loader("train_loader", train_loader)
    _check_loader("val_loader", val_loader)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    history = {"loss": []}
    for epoch in range(num_epochs):
        model.train()
        total_loss, correct, count = 0.0, 0, 0
        batches = tqdm(
            train_loader, desc=f"epoch {epoch + 1}/{num_epochs}", disable=not progress, leave=False
        )
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            batch_size = len(targets)
            total_loss += loss.item() * batch_size
            right = _correct(outputs, targets)
            correct = None if right is None or correct is None else correct + right
            count += batch_size
            postfix = {"loss": f"{total_loss / count:.4f}"}
            if correct is not None:
                postfix["accuracy"] = f"{correct / count:.3f}"
            batches.set_postfix(postfix, refresh=False)
        if count == 0:
            raise ValueError("train_loader yielded no batches: cannot train on an empty dataset")
        scores = {"loss": total_loss / count}
        if correct is not None:
            scores["accuracy"] = correct / count
        if val_loader is not None:
            scores.update(
                {f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, device).items()}
            )
        for name, value in scores.items():
            history.setdefault(name, []).append(value)
        if progress:
            print(
                f"epoch {epoch + 1}/{num_epochs}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
            )
    return history


def plot_history(history, title: str | None = None):
    """Plot loss and accuracy curves of a Keras ``History`` or of the dict ``fit`` returns.

    Returns the matplotlib Figure (two panels: loss, accuracy; validation curves dashed).
    """
    import matplotlib.pyplot as plt

    curves = getattr(history, "history", history)
    if not isinstance(curves, dict) or "loss" not in curves:
        raise ValueError("history must be a Keras History or a dict with at least a 'loss' list")
    metrics = [name for name in ("loss", "accuracy") if name in curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        epochs = range(1, len(curves[name]) + 1)
        ax.plot(epochs, curves[name], marker="o", label=f"training {name}")
        if f"val_{name}" in curves:
            ax.plot(
                epochs,
                curves[f"val_{name}"],
                marker="o",
                linestyle="--",
                label=f"validation {name}",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
        finite = [value for value in curves[name] if math.isfinite(value)]
        if name == "accuracy" and finite:
            ax.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
