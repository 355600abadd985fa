"""Time and peak memory of ``sklearn_hallu.nn.propagated_l2`` by the number of clips.

``embedding_norm="batch_propagated_l2"`` propagates each call's clips (and the supports)
along their nearest-neighbour graph. The library computes the distances ``chunk`` rows at
a time, keeps the graph sparse and solves ``(I - alpha S) z = x`` by conjugate gradients. This
script measures it on random unit embeddings of 128 dimensions (the library's embedding
size), each size in a fresh process (peak RSS is per process), and, up to 4000 clips,
the dense version it replaced (the full distance matrix and ``torch.linalg.solve``, as in
commit 259d104, with which the screen and test-class numbers were made), in alternating
rounds, with the largest difference between the two outputs.

Writes benchmarks/results/propagate.json and propagate.md.

    python benchmarks/bench_propagate.py [--sizes 500 2000 4000 20000] [--rounds 2]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import resource, sys, time, json
import torch
sys.path.insert(0, {root!r})
from sklearn_hallu.nn import propagated_l2, centered_l2
torch.set_num_threads({threads})
g = torch.Generator().manual_seed(0)
# 20 clusters of clips, as classes would be
centres = torch.randn(20, 128, generator=g, dtype=torch.float64)
x = centres[torch.arange({n}) % 20] + 1.5 * torch.randn({n}, 128, generator=g,
                                                         dtype=torch.float64)
x = x / x.norm(dim=1, keepdim=True)

def dense(x, k=10, alpha=0.5):
    n = len(x)
    d2 = torch.cdist(x, x).square()
    d2.fill_diagonal_(float("inf"))
    kth = torch.topk(d2, min(k, n - 1), dim=1, largest=False).values[:, -1:]
    near = d2 <= kth
    s2 = float(d2[near].mean())
    w = torch.where(near, torch.exp(-d2 / s2), torch.zeros_like(d2))
    w = torch.maximum(w, w.T)
    isd = w.sum(1).clamp_min(1e-12).rsqrt()
    s = w * isd[:, None] * isd[None, :]
    out = torch.linalg.solve(torch.eye(n, dtype=s.dtype) - alpha * s, x)
    return centered_l2(out, out.new_zeros(x.shape[1]), [slice(0, x.shape[1])])

t = time.perf_counter()
out = {fn}(x) if {fn!r} == "dense" else propagated_l2(x, [slice(0, 128)])
sec = time.perf_counter() - t
res = {{"seconds": sec, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}
if {compare}:
    ref = dense(x) if {fn!r} != "dense" else propagated_l2(x, [slice(0, 128)])
    res["max_abs_diff"] = float((out - ref).abs().max())
print(json.dumps(res))
"""


def measure(fn, n, threads, compare):
    code = CHILD.format(root=str(Path(__file__).resolve().parents[1]), n=n, fn=fn,
                        threads=threads, compare=compare)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[500, 2000, 4000, 20000])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dense-up-to", type=int, default=4000)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    rows = []
    for n in args.sizes:
        fns = ["library", "dense"] if n <= args.dense_up_to else ["library"]
        runs = {f: [] for f in fns}
        for r in range(args.rounds):
            for f in (fns if r % 2 == 0 else fns[::-1]):  # alternate which goes first
                compare = f == "library" and r == 0 and n <= args.dense_up_to
                runs[f].append(measure(f, n, args.threads, compare))
        row = {"n_clips": n}
        for f, rs in runs.items():
            row[f] = {"best_seconds": min(x["seconds"] for x in rs),
                      "peak_rss_mib": max(x["peak_rss_mib"] for x in rs)}
            diffs = [x["max_abs_diff"] for x in rs if "max_abs_diff" in x]
            if diffs:
                row["max_abs_diff_vs_dense"] = diffs[0]
        if "dense" in runs:
            row["dense_over_library_time"] = (row["dense"]["best_seconds"]
                                              / row["library"]["best_seconds"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    import platform

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"command": "python benchmarks/bench_propagate.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "threads": args.threads},
              "rows": rows}
    (out / "propagate.json").write_text(json.dumps(record, indent=1))
    lines = ["# propagated_l2: time and peak memory by the number of clips", "",
             f"Command: `{record['command']}`; {args.threads} threads, best of "
             f"{args.rounds} rounds, each size and version in a fresh process (peak RSS "
             "includes torch itself).", "",
             "| clips | library s | library peak MiB | dense s | dense peak MiB "
             "| dense / library time | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r.get("dense")
        lines.append(
            f"| {r['n_clips']} | {r['library']['best_seconds']:.2f} | "
            f"{r['library']['peak_rss_mib']:.0f} | "
            + (f"{d['best_seconds']:.2f} | {d['peak_rss_mib']:.0f} | "
               f"{r['dense_over_library_time']:.2f} | {r['max_abs_diff_vs_dense']:.1e} |"
               if d else "- | - | - | - |"))
    (out / "propagate.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
