"""The PyTorch training loop: ``fit`` with a progress bar, and ``evaluate``.

PyTorch only, on purpose: Keras models train with their own ``compile`` and ``fit``. ``fit`` returns
a history dict with the same keys as Keras's ``History.history`` (``loss``, ``accuracy`` when the
targets are class labels, ``val_loss``, ``val_accuracy``), so ``cnnkit.plot.learning_curves`` draws
both frameworks alike.
Importing this module imports PyTorch.
"""

from __future__ import annotations

import sys

import torch
from tqdm.auto import tqdm

from cnnkit._checks import positive_int


def _check_loader(name, loader):
    if loader is None:
        return
    if not hasattr(loader, "__iter__"):
        raise TypeError(
            f"{name} must be an iterable of (inputs, targets) batches, got {type(loader).__name__}"
        )


def _watched() -> bool:
    """True where someone sees a progress bar: a notebook, or a terminal (not a file or a CI log)."""
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def _on(device, inputs) -> tuple:
    """The model's inputs on ``device``: one tensor, or a tuple or list of them (several inputs)."""
    if isinstance(inputs, (tuple, list)):
        return tuple(tensor.to(device) for tensor in inputs)
    return (inputs.to(device),)


def _correct(outputs, targets) -> int | None:
    """Right class predictions (pixels, for masks); None when the targets are not class labels.

    Class labels are integers shaped like the outputs without their class axis (dimension 1):
    ``(batch,)`` for logits ``(batch, classes)``, masks ``(batch, height, width)`` for per-pixel
    logits ``(batch, classes, height, width)``.
    """
    if not torch.is_tensor(outputs) or targets.is_floating_point() or outputs.ndim < 2:
        return None
    if targets.shape != outputs.shape[:1] + outputs.shape[2:]:
        return None
    return (outputs.argmax(dim=1) == targets).sum().item()


def evaluate(model, loader, loss_fn, device=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader``, without gradients, in eval mode.

    Accuracy counts right class labels, per pixel for masks; it is left out for other targets.
    """
    _check_loader("loader", loader)
    device = device or next(model.parameters()).device
    model.eval()
    total_loss, correct, count, labels = 0.0, 0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            targets = targets.to(device)
            outputs = model(*_on(device, inputs))
            total_loss += loss_fn(outputs, targets).item() * len(targets)
            right = _correct(outputs, targets)
            correct = None if right is None or correct is None else correct + right
            count, labels = count + len(targets), labels + targets.numel()
    if count == 0:
        raise ValueError("loader yielded no batches: cannot evaluate on an empty dataset")
    scores = {"loss": total_loss / count}
    if correct is not None:
        scores["accuracy"] = correct / labels
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
    any iterable); ``inputs`` may be a tuple of tensors, passed to the model as its arguments.
    Accuracy is measured when the targets are class labels (per pixel for masks, see
    ``evaluate``); other tasks get the loss only. The progress bar shows the running loss and
    accuracy, in a notebook or a terminal only: written to a file or a CI log, ``fit`` prints one
    line per epoch and no bar. Pass ``progress=False`` for silent runs (tests). A learning-rate
    ``scheduler`` (e.g. ``OneCycleLR``) steps after every batch.
    """
    num_epochs = positive_int(num_epochs, "num_epochs")
    _check_loader("train_loader", train_loader)
    _check_loader("val_loader", val_loader)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    history = {"loss": []}
    for epoch in range(num_epochs):
        model.train()
        total_loss, correct, count, labels = 0.0, 0, 0, 0
        batches = tqdm(
            train_loader,
            desc=f"epoch {epoch + 1}/{num_epochs}",
            disable=not (progress and _watched()),
            leave=False,
        )
        for inputs, targets in batches:
            targets = targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(*_on(device, inputs))
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            batch_size = len(targets)
            total_loss += loss.item() * batch_size
            right = _correct(outputs, targets)
            correct = None if right is None or correct is None else correct + right
            count, labels = count + batch_size, labels + targets.numel()
            postfix = {"loss": f"{total_loss / count:.4f}"}
            if correct is not None:
                postfix["accuracy"] = f"{correct / labels:.3f}"
            batches.set_postfix(postfix, refresh=False)
        if count == 0:
            raise ValueError("train_loader yielded no batches: cannot train on an empty dataset")
        scores = {"loss": total_loss / count}
        if correct is not None:
            scores["accuracy"] = correct / labels
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
