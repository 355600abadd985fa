"""Where a 3-view training step spends its time on CPU (torch.profiler, top operators).

Writes benchmarks/results/profile_train_cpu_<variant>[_band].txt.

    python benchmarks/profile_train.py [--variant fused_bn_pool] [--input band]

The CPU allocator is tuned first (``sklearn_hallu.utils.tune_cpu_allocator``), as
the applications do.
"""

import argparse
from pathlib import Path

import torch
from bench_train import make_input, make_model
from torch.profiler import ProfilerActivity, profile

from sklearn_hallu.nn import prototypical_loss
from sklearn_hallu.utils import tune_cpu_allocator


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="fused_bn_pool")
    p.add_argument("--input", default="dense", choices=["dense", "band"])
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    tune_cpu_allocator()
    model = make_model(3, args.variant).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = make_input(3, args.input)

    def step():
        opt.zero_grad()
        loss, _ = prototypical_loss(model(x), 5, 5)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    suffix = "" if args.input == "dense" else f"_{args.input}"
    out = Path(__file__).parent / "results" / f"profile_train_cpu_{args.variant}{suffix}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"python benchmarks/profile_train.py --variant {args.variant} "
                   f"--input {args.input}\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
