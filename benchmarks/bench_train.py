"""Training throughput of the baseline (1 view) and HalluAudio (3 views), CPU or GPU.

Measures, in one run: a large float32 matrix product (the machine's rate), and
episodic training steps (5-way, 5 supports + 5 queries = batch 50, 1x128x160
input per view, 64-channel backbone, SGD) for these variants of the same function:

* ``eager``: conv, batch norm, ReLU, max pool (the paper's order), NCHW memory;
* ``channels_last``: the same in NHWC memory;
* ``channels_last+pool_first``: NHWC, max pool before ReLU (they commute, so the
  output is identical; the ReLU then touches 16x fewer values) -- the library's default
  before the fused block;
* ``fused`` (3 views only): channels_last+pool_first with the three backbones run
  as one network of grouped convolutions (groups=3), the same function again
  (an option, ``fuse_views=True``);
* ``fused_bn_pool``: channels_last, each block's batch norm, max pool and ReLU as
  one step on the pooled grid (``nn.FusedConvBlock``), the first block's statistics
  and weight gradient from its input's patch moments: the same function again, and
  the library's default (``Backbone(fused=True)``);
* ``crop_views`` (3 views only): each band view gets only its own mel rows, a
  different model (reported for speed; its accuracy comes from the reproduction).

Inputs: ``dense`` (every view random, no zero rows) for all variants; and for the
3-view ``eager`` and ``fused_bn_pool`` also ``band``: what HalluAudio's encoder
sees, the whole spectrogram plus a low view and a high view whose other rows are
0 (masked rows after standardising; split at row 71 of 128, 2 kHz). The fused
first block skips the rows where its output is provably 0; the FLOPs counted
(``train_gflop_per_clip``) are the full model's in both inputs, so on ``band``
the GFLOP/s are what the same function would need at that speed.

Every variant runs with the CPU allocator tuned as the applications tune it
(``sklearn_hallu.utils.tune_cpu_allocator``; ``--default-allocator`` to leave it;
``benchmarks/bench_allocator.py`` measures what it changes).

Writes benchmarks/results/train_<device>.json.

    python benchmarks/bench_train.py [--device cpu] [--steps 6]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from sklearn_hallu.nn import FusedConvBlock, MultiViewEncoder, prototypical_loss
from sklearn_hallu.utils import tune_cpu_allocator

H, W, BATCH, CH = 128, 160, 50, (64, 64, 64)
SPLIT_ROW = 71  # 2 kHz of 128 mel rows up to 8 kHz


class PaperOrderBlock(nn.Module):
    """conv -> BN -> ReLU -> pool, the order written in the paper."""

    def __init__(self, block):
        super().__init__()
        self.conv, self.bn, self.pool = block.conv, block.bn, block.pool

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x))))


def make_model(n_views, variant):
    crops = None
    if variant == "crop_views" and n_views == 3:
        crops = [(0, H, 0, W), (0, 71, 0, W), (71, H, 0, W)]
    m = MultiViewEncoder(n_views, CH, crops=crops, channels_last=variant != "eager",
                         fuse_views=variant == "fused", fused_blocks=False)
    if variant in ("eager", "channels_last"):
        for bb in m.backbones:
            bb.blocks = nn.Sequential(*[PaperOrderBlock(b) for b in bb.blocks])
    if variant == "fused_bn_pool":
        for bb in m.backbones:
            bb.blocks = nn.Sequential(*[FusedConvBlock.from_block(b) for b in bb.blocks])
    m.set_input_shape(H, W)
    if variant != "eager":
        m = m.to(memory_format=torch.channels_last)
    return m


def conv_flops(n_views, crops=None):
    """Forward FLOPs per clip of the convolutions (2 * MACs)."""
    total = 0
    for v in range(n_views):
        h, w = (H, W) if crops is None else (crops[v][1] - crops[v][0], W)
        c_in = 1
        for c in CH:
            total += 2 * c_in * c * 9 * h * w
            h, w = -(-h // 4), -(-w // 4)
            c_in = c
    return total


def make_input(n_views, inp, device="cpu", batch=BATCH):
    """Random views; ``inp="band"``: views 1 and 2 zero above / below SPLIT_ROW."""
    x = torch.randn(batch, n_views, H, W, device=device)
    if inp == "band":
        x[:, 1, SPLIT_ROW:] = 0  # low band: the high rows masked
        x[:, 2, :SPLIT_ROW] = 0  # high band
    return x


def time_training(model, n_views, device, steps, inp="dense"):
    x = make_input(n_views, inp, device)
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step():
        opt.zero_grad()
        loss, _ = prototypical_loss(model(x), 5, 5)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return BATCH * steps / (time.perf_counter() - t)


def matmul_gflops(device, n=2048, reps=10):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def check_same_function():
    """The reordered and the fused blocks compute what the paper's order computes."""
    torch.manual_seed(0)
    ref = make_model(3, "eager").eval()
    ours = make_model(3, "channels_last+pool_first").eval()
    ours.load_state_dict(ref.state_dict())
    fused = make_model(3, "fused").eval()
    with torch.no_grad():
        for li in range(3):
            fb = fused.backbones[0].blocks[li]
            fb.conv.weight.copy_(torch.cat([b.blocks[li].conv.weight for b in ref.backbones]))
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(fb.bn, name).copy_(torch.cat([getattr(b.blocks[li].bn, name)
                                                      for b in ref.backbones]))
    bn_pool = make_model(3, "fused_bn_pool")
    bn_pool.load_state_dict(ref.state_dict())
    x = make_input(3, "band", batch=4)  # view 0 dense, views 1 and 2 with zero rows
    with torch.no_grad():
        r = ref(x)
        out = {"pool_first": float((r - ours(x)).abs().max()),
               "fused": float((r - fused(x)).abs().max()),
               "fused_bn_pool_eval": float((r - bn_pool.eval()(x)).abs().max())}
    # training mode: outputs and every parameter gradient (batch statistics in play)
    ref.train(), bn_pool.train()
    grads = []
    for m in (ref, bn_pool):
        m.zero_grad()
        y = m(x)
        (y * torch.linspace(-1, 1, y.shape[1])).sum().backward()
        grads.append((y.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}))
    out["fused_bn_pool_train_output"] = float((grads[0][0] - grads[1][0]).abs().max())
    out["fused_bn_pool_train_grad_rel"] = max(
        float((grads[0][1][k] - grads[1][1][k]).abs().max() / grads[0][1][k].abs().max())
        for k in grads[0][1])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--default-allocator", action="store_true",
                   help="do not tune the CPU allocator (glibc's defaults)")
    args = p.parse_args()
    tuned = False if args.default_allocator else tune_cpu_allocator()
    out = Path(args.out or Path(__file__).parent / "results" / f"train_{args.device}.json")
    res = {"device": args.device, "torch_threads": torch.get_num_threads(),
           "allocator_tuned": tuned,
           "matmul_gflops": matmul_gflops(args.device),
           "max_abs_diff_vs_paper_order": check_same_function(),
           "runs": []}
    # Each variant is timed `repeats` times, the rounds interleaved so that drifts of the
    # machine's speed hit every variant alike; the best round counts.
    variants = [(n, v, "dense") for n in (1, 3)
                for v in ("eager", "channels_last", "channels_last+pool_first", "fused",
                          "fused_bn_pool", "crop_views")
                if not (n == 1 and v in ("crop_views", "fused"))]
    variants += [(3, "eager", "band"), (3, "fused_bn_pool", "band")]
    models = {key: make_model(*key[:2]) for key in variants}
    rounds = {key: [] for key in variants}
    for _ in range(args.repeats):
        for key in variants:
            rounds[key].append(time_training(models[key], key[0], args.device, args.steps,
                                             key[2]))
    for (n_views, variant, inp), cps_all in rounds.items():
        cps = max(cps_all)
        fl = conv_flops(n_views, models[(n_views, variant, inp)].crops) * 3  # fwd+bwd ~ 3x fwd
        res["runs"].append({"n_views": n_views, "variant": variant, "input": inp,
                            "clips_per_s": cps, "clips_per_s_rounds": cps_all,
                            "achieved_gflops": cps * fl / 1e9,
                            "pct_of_matmul": 100 * cps * fl / 1e9 / res["matmul_gflops"],
                            "train_gflop_per_clip": fl / 1e9})
        print(res["runs"][-1], flush=True)
    for r in res["runs"]:  # against eager on the same input, best round and round by round
        eager = rounds[(r["n_views"], "eager", r["input"])]
        r["speedup_vs_eager"] = r["clips_per_s"] / max(eager)
        r["speedup_vs_eager_rounds"] = [a / b for a, b in zip(r["clips_per_s_rounds"], eager)]
    res["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                      "torch": torch.__version__}
    if args.device.startswith("cuda"):
        res["machine"]["gpu"] = torch.cuda.get_device_name(0)
    res["command"] = (f"python benchmarks/bench_train.py --device {args.device}"
                      + (" --default-allocator" if args.default_allocator else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
