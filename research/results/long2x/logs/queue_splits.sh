# RULES_splits.md step 2: today's default and long2x on other class splits, seeds 0 and 1,
# interleaved, alone on the CPU, from a frozen worktree of the commit that adds this file.
# Gated by step 1.1 (research.gate). Resumable: a seed whose folder holds results.json is
# kept, and a merged split is not merged again. SPLITS="1" runs split 1 only (a session's share).
W=${W:-/work/frozen-l2s}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/research/results/long2x/splits
while pgrep -f "qh.sh|queue_headline.sh" > /dev/null; do sleep 20; done
$PY -m research.gate /work/main/research/results/cross_run/tpool_long2x_vs_tpool/gain.json \
  --require positive || exit 1
for S in ${SPLITS:-1 2 3}; do
  for K in 0 1; do
    [ -f $D/split${S}_default_seeds/s$K/results.json ] || \
      $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 --class-split $S \
        --models baseline --seeds $K --device cpu --checkpoint best_after_last_drop \
        --test-time-shifts 8 --out $D/split${S}_default_seeds/s$K || exit 1
    [ -f $D/split${S}_long2x_seeds/s$K/results.json ] || \
      $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 --class-split $S \
        --models baseline --seeds $K --device cpu --checkpoint best_after_last_drop \
        --test-time-shifts 8 --time-pool 4,4,1 --epochs 126 --lr-step 42 \
        --out $D/split${S}_long2x_seeds/s$K || exit 1
    echo "split $S seed $K DONE $(date)"
  done
  for A in default long2x; do
    [ -f $D/split${S}_$A/results.json ] || \
    $PY -m research.reproduce --stage merge --merge $D/split${S}_${A}_seeds/s0 $D/split${S}_${A}_seeds/s1 \
      --out $D/split${S}_$A || exit 1
  done
  $PY -m research.cross_run_gain --model $D/split${S}_long2x:baseline \
    --baseline $D/split${S}_default:baseline --out $D/gain$S || exit 1
  $PY -m research.gate $D/gain$S/gain.json --require positive
  echo "split $S DONE $(date)"
done
echo "QUEUE DONE $(date)"
