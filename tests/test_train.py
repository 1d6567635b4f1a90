"""cnnkit.train: the PyTorch training function and the history plot."""

import keras
import numpy as np
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


def test_plot_history_draws_torch_and_keras_histories():
    fig = train.plot_history(
        {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.7]}, title="t"
    )
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and len(loss_ax.lines) == 2
    assert acc_ax.get_ylabel() == "accuracy" and len(acc_ax.lines) == 1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_history = model.fit(np.zeros((8, 2)), np.zeros(8), epochs=2, verbose=0)
    assert len(train.plot_history(keras_history).axes) == 2
    with pytest.raises(ValueError, match="history must be a Keras History or a dict"):
        train.plot_history([1, 2])


def test_fit_trains_non_classification_targets_and_steps_a_scheduler():
    torch.manual_seed(0)
    inputs = torch.randn(64, 3)
    targets = inputs @ torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])  # (64, 2): no classes
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(inputs, targets), batch_size=16
    )
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
    history = train.fit(model, loader, optimizer=optimizer, loss_fn=nn.MSELoss(), num_epochs=3,
                        val_loader=loader, scheduler=scheduler, progress=False)  # fmt: skip
    assert set(history) == {"loss", "val_loss"} and history["loss"][-1] < history["loss"][0]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**12)  # 4 batches × 3 epochs
    assert set(train.evaluate(model, loader, nn.MSELoss())) == {"loss"}
