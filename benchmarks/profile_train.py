"""Where a 3-view training step spends its time on CPU (torch.profiler, top operators).

Writes benchmarks/results/profile_train_cpu.txt.

    python benchmarks/profile_train.py [--variant fused]
"""

import argparse
from pathlib import Path

import torch
from bench_train import BATCH, H, W, make_model
from torch.profiler import ProfilerActivity, profile

from sklearn_hallu.nn import prototypical_loss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="fused")
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    model = make_model(3, args.variant).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(BATCH, 3, H, W)

    def step():
        opt.zero_grad()
        loss, _ = prototypical_loss(model(x), 5, 5)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    out = Path(__file__).parent / "results" / f"profile_train_cpu_{args.variant}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"python benchmarks/profile_train.py --variant {args.variant}\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
