"""Accuracy of the budget calculator's training-activation estimate against measurement (target: ≤ 5 %).

For each network, the calculator's estimate of what backprop keeps (``Budget.kept_bytes``) is compared
with the bytes of the distinct tensors that PyTorch's autograd saves during one training-mode forward
pass (saved-tensor hooks, on the CPU), in float32 and under bfloat16 autocast. When a GPU is present,
the frameworks' own peak-memory counters for one training step are printed next to the calculator's
training total (parameters + gradients + kept activations; the peak also holds workspaces).
Run: `python benchmarks/budget_accuracy.py [--only TEXT]` (only the networks whose name holds TEXT).
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

import cnnkit.budget.torch
import cnnkit.models.torch as models_torch
from cnnkit import seed_everything
from cnnkit.budget import MB, estimate
from cnnkit.budget.torch import measure_saved_tensors

EXERCISE2 = [  # seed exercise 2: three 3x3 conv layers, stride 2, "same", 100/200/400 maps, ReLU
    {
        "type": "conv2d",
        "filters": f,
        "kernel_size": 3,
        "strides": 2,
        "padding": "same",
        "activation": "relu",
    }
    for f in (100, 200, 400)
]


def networks():
    """(name, module, input shape, batch size) of the networks the issue names, plus torchvision's."""
    return [
        (
            "seed exercise 2 (batch 50)",
            cnnkit.budget.torch.build(EXERCISE2, (200, 300, 3)),
            (3, 200, 300),
            50,
        ),
        ("Fashion-MNIST CNN (batch 64)", models_torch.fashion_mnist_cnn(), (1, 28, 28), 64),
        ("ResNet-34, course (batch 8)", models_torch.resnet34(), (3, 224, 224), 8),
        (
            "ResNet-34, torchvision (batch 8)",
            torchvision.models.resnet34(weights=None),
            (3, 224, 224),
            8,
        ),
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="only the networks whose name holds this text")
    only = parser.parse_args(argv).only
    seed_everything(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"{'network':<34}{'precision':<11}{'estimate MB':>13}{'measured MB':>13}{'error':>9}{'bytes off':>11}{'seconds':>9}"
    )
    worst = 0.0
    chosen = [network for network in networks() if only in network[0]]
    if not chosen:
        raise SystemExit(f"no network's name holds {only!r}")
    for name, model, shape, batch_size in chosen:
        budget = estimate(model, shape)
        inputs = torch.randn(batch_size, *shape)
        for precision, mixed in (("float32", False), ("bfloat16", True)):
            start = time.perf_counter()
            measured = measure_saved_tensors(model, inputs, mixed_precision=mixed).bytes
            seconds = time.perf_counter() - start
            estimated = budget.kept_bytes(batch_size, precision, mixed_precision=mixed)
            error = (estimated - measured) / measured
            worst = max(worst, abs(error))
            print(
                f"{name:<34}{precision:<11}{estimated / MB:>13.2f}{measured / MB:>13.2f}"
                f"{error:>+9.2%}{estimated - measured:>+11,}{seconds:>9.1f}"
            )
        if device.type == "cuda":
            model.to(device)
            peak = cnnkit.budget.torch.measure_peak(model, inputs.to(device))
            computed = budget.training_memory(batch_size, optimizer="sgd").total
            print(
                f"{'':<34}CUDA peak of one step: {peak / MB:.1f} MB; calculator (SGD): {computed / MB:.1f} MB"
            )
            model.to("cpu")
    print(f"largest error: {worst:.2%} (target: at most 5 %)")
    if device.type != "cuda":
        print("no GPU: the CUDA peak-memory counters were not read")


if __name__ == "__main__":
    main()
