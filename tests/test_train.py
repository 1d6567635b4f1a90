"""cnnkit.train: the PyTorch training loop (its history is drawn by cnnkit.plot.learning_curves)."""

import io
import sys

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


class TwoInputs(nn.Module):
    """Per-pixel logits from two maps: (batch, 2, height, width)."""

    def __init__(self):
        super().__init__()
        self.first, self.second = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 1)

    def forward(self, a, b):
        return self.first(a) + self.second(b)


def test_fit_passes_several_inputs_and_measures_accuracy_per_pixel():
    torch.manual_seed(0)
    a, b = torch.randn(64, 1, 5, 7), torch.randn(64, 1, 5, 7)
    masks = (a + b > 0).long()[:, 0]  # (batch, height, width)
    dataset = torch.utils.data.TensorDataset(a, b, masks)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, collate_fn=lambda items: (
        (torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])),
        torch.stack([i[2] for i in items]),
    ))  # fmt: skip
    model = TwoInputs()
    history = train.fit(model, loader, optimizer=torch.optim.Adam(model.parameters(), 0.05),
                        loss_fn=nn.CrossEntropyLoss(), num_epochs=8, progress=False)  # fmt: skip
    assert 0.9 < history["accuracy"][-1] <= 1.0  # a fraction of the pixels, not of the images
    scores = train.evaluate(model, loader, nn.CrossEntropyLoss())
    assert scores["accuracy"] == pytest.approx(
        ((model(a, b).argmax(1) == masks).float().mean().item()), abs=1e-6
    )


def test_targets_that_are_not_class_labels_give_the_loss_only():
    inputs, targets = torch.randn(32, 3), torch.randn(32, 2)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, targets), batch_size=8
    )
    model = nn.Linear(3, 2)
    history = train.fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                        loss_fn=nn.MSELoss(), num_epochs=2, progress=False)  # fmt: skip
    assert set(history) == {"loss"}
    assert set(train.evaluate(model, loader, nn.MSELoss())) == {"loss"}


def test_a_scheduler_steps_after_every_batch():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    train.fit(model, blobs(n=64), optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(), num_epochs=2,
              scheduler=scheduler, progress=False)  # fmt: skip
    assert scheduler.last_epoch == 4  # 2 epochs of 2 batches of 32
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1 / 5)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_the_progress_bar_shows_only_where_someone_watches(monkeypatch, capsys, terminal):
    """A log file gets one line per epoch and no carriage returns; a terminal gets the bar too."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)  # not in a notebook
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    model = nn.Linear(2, 2)
    train.fit(model, blobs(), num_epochs=2, loss_fn=nn.CrossEntropyLoss(),
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1))  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert ("\r" in stderr.getvalue()) == terminal, repr(stderr.getvalue()[:200])
