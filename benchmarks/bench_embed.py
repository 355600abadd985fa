"""Inference throughput: embedding clips in eval mode without gradients, CPU or GPU.

What evaluation, validation and ``predict_proba`` spend their time on: the encoder's
forward pass over batches of clips (1x128x160 per view, 64-channel backbones), for
the paper's eager block order and the library's default (``fused_bn_pool``, see
``bench_train.py``), baseline (1 view) and HalluAudio (3 views; ``dense`` random
views and ``band`` views zero outside their band, as HalluAudio sees them). Best of
interleaved rounds; max |difference| of the embeddings to the eager order.

Writes benchmarks/results/embed_<device>.json.

    python benchmarks/bench_embed.py [--device cpu] [--batch 200]
"""

import argparse
import json
import time
from pathlib import Path

import torch
from bench_train import make_input, make_model

from sklearn_hallu.utils import tune_cpu_allocator


def time_embedding(model, x, reps):
    with torch.no_grad():
        model(x)
        t = time.perf_counter()
        for _ in range(reps):
            model(x)
        if x.is_cuda:
            torch.cuda.synchronize()
    return x.shape[0] * reps / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    tuned = tune_cpu_allocator()
    torch.manual_seed(0)
    cases = [(1, "dense"), (3, "dense"), (3, "band")]
    models, inputs = {}, {}
    for n_views, inp in cases:
        eager = make_model(n_views, "eager").eval().to(args.device)
        fused = make_model(n_views, "fused_bn_pool").eval().to(args.device)
        fused.load_state_dict(eager.state_dict())
        models[(n_views, inp)] = {"eager": eager, "fused_bn_pool": fused}
        inputs[(n_views, inp)] = make_input(n_views, inp, args.device, args.batch)
    rounds = {(c, v): [] for c in cases for v in ("eager", "fused_bn_pool")}
    for _ in range(args.rounds):
        for (case, variant) in rounds:
            rounds[(case, variant)].append(
                time_embedding(models[case][variant], inputs[case], args.reps))
    res = {"device": args.device, "allocator_tuned": tuned, "batch": args.batch,
           "torch_threads": torch.get_num_threads(), "runs": []}
    for n_views, inp in cases:
        with torch.no_grad():
            x = inputs[(n_views, inp)][:16]
            diff = float((models[(n_views, inp)]["eager"](x)
                          - models[(n_views, inp)]["fused_bn_pool"](x)).abs().max())
        e, f = rounds[((n_views, inp), "eager")], rounds[((n_views, inp), "fused_bn_pool")]
        res["runs"].append({"n_views": n_views, "input": inp,
                            "eager_clips_per_s": max(e), "fused_clips_per_s": max(f),
                            "speedup": max(f) / max(e),
                            "speedup_rounds": [a / b for a, b in zip(f, e)],
                            "max_abs_diff": diff})
        print(res["runs"][-1], flush=True)
    res["command"] = f"python benchmarks/bench_embed.py --device {args.device}"
    out = Path(__file__).parent / "results" / f"embed_{args.device}.json"
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
