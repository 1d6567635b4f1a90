"""PyTorch training steps on shared cores: OpenMP's wait policy and thread count (one run, ratios).

PyTorch's OpenMP threads (GNU libgomp) spin while they wait for work. On a machine whose cores other
programs also use, a spinning thread holds a core that the thread it waits for needs. The course sets
``OMP_WAIT_POLICY=PASSIVE`` (Makefile, conftest.py, tests/build_book.py, the grader's kernels);
this measures what it gives.

Each setting trains the same small CNN (batches of 64 grey 28x28 images) in a fresh interpreter, as
the wait policy is read when OpenMP starts. The settings run as the machine is ("as is": the load
average at the start is printed), then with busy processes of our
own beside them (one per core, bounded: they stop with the setting); the settings alternate
round by round so that drifts in the machine's load hit them alike. Printed: the median milliseconds
per step, CPU seconds per step (the spinning shows there), and the ratios to the default.
Run: `python benchmarks/thread_wait_policy.py [--steps N] [--rounds N]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "2 threads, active (default)": {"OMP_NUM_THREADS": "2"},
    "2 threads, passive": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
}

STEPS = """
import json, sys, time
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
inputs, targets = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
def step():
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(inputs), targets).backward()
    optimizer.step()
for _ in range(3):
    step()  # warm-up
steps = int(sys.argv[1])
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(steps):
    step()
print(json.dumps({"ms": 1000 * (time.perf_counter() - wall) / steps,
                  "cpu_ms": 1000 * (time.process_time() - cpu) / steps}))
"""


def spin(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def measure(env: dict, steps: int) -> dict:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OMP_")}
    run = subprocess.run([sys.executable, "-c", STEPS, str(steps)], env={**environment, **env},
                         capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per setting")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each setting per machine state"
    )
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 1,
                        help="busy processes beside the training (default: one per core; 0: the machine as is only)")  # fmt: skip
    args = parser.parse_args()
    results = {}
    load = os.getloadavg()[0]
    for state in ("as is", "busy") if args.busy else ("as is",):
        stop = multiprocessing.Event()
        hogs = [multiprocessing.Process(target=spin, args=(stop,), daemon=True)
                for _ in range(args.busy if state == "busy" else 0)]  # fmt: skip
        for hog in hogs:
            hog.start()
        try:
            runs = {name: [] for name in SETTINGS}
            for round_ in range(args.rounds):
                names = list(SETTINGS) if round_ % 2 == 0 else list(reversed(SETTINGS))
                for name in names:
                    runs[name].append(measure(SETTINGS[name], args.steps))
        finally:
            stop.set()
            for hog in hogs:
                hog.join(timeout=10)
        for name, samples in runs.items():
            results[state, name] = {
                key: statistics.median(sample[key] for sample in samples)
                for key in ("ms", "cpu_ms")
            }
    print(f"{'machine':<7} {'setting':<28} {'ms/step':>8} {'CPU ms/step':>12} {'x default':>10}")
    for state, name in results:
        default = results[state, next(iter(SETTINGS))]["ms"]
        row = results[state, name]
        print(f"{state:<7} {name:<28} {row['ms']:8.1f} {row['cpu_ms']:12.1f} "
              f"{row['ms'] / default:10.2f}")  # fmt: skip
    quiet_active = results["as is", "2 threads, active (default)"]["ms"]
    quiet_passive = results["as is", "2 threads, passive"]["ms"]
    busy = ""
    if args.busy:
        busy_active = results["busy", "2 threads, active (default)"]["ms"]
        busy_passive = results["busy", "2 threads, passive"]["ms"]
        busy = f"{busy_active / busy_passive:.2f}x as fast with {args.busy} busy processes beside it and "
    print(f"summary: OMP_WAIT_POLICY=PASSIVE makes a step {busy}{quiet_active / quiet_passive:.2f}x as "
          f"fast {'without them' if args.busy else 'on the machine as it is'} (load average {load:.1f} at the start) "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
