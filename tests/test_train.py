"""cnnkit.train: the PyTorch training loop (its history is drawn by cnnkit.plot.learning_curves)."""

import pytest
import torch
from torch import nn

from cnnkit import train


def blobs(n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    inputs = torch.randn(n, 2, generator=generator) + 3.0 * labels[:, None].float()
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, labels), batch_size=32
    )


def test_fit_learns_and_returns_a_keras_like_history(capsys):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    history = train.fit(
        model, blobs(), val_loader=blobs(seed=1), num_epochs=4, loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    )  # fmt: skip
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 4 for values in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    assert "epoch 4/4" in capsys.readouterr().out
    scores = train.evaluate(model, blobs(seed=1), nn.CrossEntropyLoss())
    assert scores["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_fit_rejects_bad_arguments():
    model = nn.Linear(2, 2)
    args = dict(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss()
    )
    with pytest.raises(ValueError, match="num_epochs must be a positive int, got 0"):
        train.fit(model, blobs(), num_epochs=0, **args)
    with pytest.raises(TypeError, match="train_loader must be an iterable"):
        train.fit(model, 3, **args)
    with pytest.raises(ValueError, match="train_loader yielded no batches"):
        train.fit(model, [], progress=False, **args)
