# RULES_hallu.md's rule G3d: G3c's HalluAudio models scored with label propagation
# (prediction only), from a frozen worktree of the commit that adds the rule, alone on the CPU.
W=${W:-/work/frozen-g3d}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/docs/results
P=$D/cpu_headline_hallu_long2x_lp
mkdir -p $P/models
for s in 0 1 2 3 4; do
  cp -n $D/cpu_headline_hallu_long2x_seeds/s$s/models/* $P/models/ || exit 1
done
[ -f $P/results.json ] || $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 \
  --models halluaudio --seeds 0 1 2 3 4 --device cpu --recipe long2x_tpool_tta8 \
  --embedding-norm batch_label_propagated_l2 --stage test --out $P || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_hallu_long2x_lp:halluaudio \
  --baseline docs/results/cpu_headline_tpool_long2x_lp:baseline \
  --out research/results/cross_run/hallu_long2x_lp || exit 1
echo "QUEUE DONE $(date)"
