# RULES_label_prop.md's test-class stage: run only after rule LP passed on label_prop.md.
# Prediction only (the saved models are copied; nothing is retrained), alone on the CPU,
# from the frozen worktree of the commit that adds the library's opt-in.
W=${W:-/work/frozen-lpt}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/docs/results; S2=/work/main/research/results/long2x/splits
R=/work/main/research/results/cross_run
LONG2X="--checkpoint best_after_last_drop --test-time-shifts 8 --time-pool 4,4,1 --epochs 126 --lr-step 42"
NORM="--embedding-norm batch_label_propagated_l2 --stage test"
P=$D/cpu_headline_tpool_long2x_lp
mkdir -p $P/models && cp -n $D/cpu_headline_tpool_long2x_tta/models/* $P/models/
[ -f $P/results.json ] || $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 \
  --models baseline --seeds 0 1 2 3 4 --device cpu $LONG2X $NORM --out $P || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long2x_lp:baseline \
  --baseline docs/results/cpu_headline_tpool_long2x_prop:baseline --out $R/long2x_lp_vs_prop || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long2x_lp:baseline \
  --baseline docs/results/cpu_headline_late_tta_xeon:baseline --out $R/long2x_lp_vs_default_xeon || exit 1
echo "paper's split DONE $(date)"
cd $W || exit 1
for S in 1 2 3; do
  for K in 0 1; do
    Q=$S2/split${S}_long2x_lp_seeds/s$K
    mkdir -p $Q/models && cp -n $S2/split${S}_long2x_seeds/s$K/models/* $Q/models/
    [ -f $Q/results.json ] || $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 \
      --class-split $S --models baseline --seeds $K --device cpu $LONG2X $NORM --out $Q || exit 1
  done
  [ -f $S2/split${S}_long2x_lp/results.json ] || $PY -m research.reproduce --stage merge \
    --merge $S2/split${S}_long2x_lp_seeds/s0 $S2/split${S}_long2x_lp_seeds/s1 \
    --out $S2/split${S}_long2x_lp || exit 1
  $PY -m research.cross_run_gain --model $S2/split${S}_long2x_lp:baseline \
    --baseline $S2/split${S}_default:baseline --out $S2/lp_gain$S || exit 1
  $PY -m research.cross_run_gain --model $S2/split${S}_long2x_lp:baseline \
    --baseline $S2/split${S}_long2x_prop:baseline --out $S2/lp_vs_prop$S || exit 1
  echo "split $S DONE $(date)"
done
echo "QUEUE DONE $(date)"
