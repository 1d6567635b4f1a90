"""The PyTorch training loop: ``fit`` with a progress bar, and ``evaluate``.

PyTorch only, on purpose: Keras models train with their own ``compile`` and ``fit``. ``fit`` returns
a history dict with the same keys as Keras's ``History.history`` (``loss``, ``accuracy``,
``val_loss``, ``val_accuracy``), so ``cnnkit.plot.learning_curves`` draws both frameworks alike.
Importing this module imports PyTorch.
"""

from __future__ import annotations

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


def evaluate(model, loader, loss_fn, device=None) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader``, without gradients, in eval mode."""
    _check_loader("loader", loader)
    device = device or next(model.parameters()).device
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            total_loss += loss_fn(outputs, targets).item() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            count += len(targets)
    if count == 0:
        raise ValueError("loader yielded no batches: cannot evaluate on an empty dataset")
    return {"loss": total_loss / count, "accuracy": correct / count}


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
) -> dict:
    """Train ``model`` for ``num_epochs`` epochs and return its history.

    ``train_loader`` and ``val_loader`` yield ``(inputs, targets)`` batches (a ``DataLoader``, or
    any iterable). Accuracy assumes class logits in dimension 1. The progress bar shows the
    running loss and accuracy; pass ``progress=False`` for silent runs (tests, benchmarks).
    """
    num_epochs = positive_int(num_epochs, "num_epochs")
    _check_loader("train_loader", train_loader)
    _check_loader("val_loader", val_loader)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    history = {"loss": [], "accuracy": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
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
            batch_size = len(targets)
            total_loss += loss.item() * batch_size
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            count += batch_size
            batches.set_postfix(
                loss=f"{total_loss / count:.4f}", accuracy=f"{correct / count:.3f}", refresh=False
            )
        if count == 0:
            raise ValueError("train_loader yielded no batches: cannot train on an empty dataset")
        history["loss"].append(total_loss / count)
        history["accuracy"].append(correct / count)
        line = f"epoch {epoch + 1}/{num_epochs}: loss {history['loss'][-1]:.4f}, accuracy {history['accuracy'][-1]:.4f}"
        if val_loader is not None:
            scores = evaluate(model, val_loader, loss_fn, device)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
            line += f", val_loss {scores['loss']:.4f}, val_accuracy {scores['accuracy']:.4f}"
        if progress:
            print(line)
    return history
