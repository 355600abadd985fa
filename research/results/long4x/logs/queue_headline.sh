# RULES.md's test-class stage: after the screen's queue (logs/queue.sh), only if rule 1
# passed or rule 1L's gain is positive with its clip interval above zero (both read
# mechanically, exit 0 on pass). From a frozen worktree of the commit that adds this script,
# alone on the CPU. Resumable: a seed whose folder holds results.json is kept; the merge,
# the gates and the propagation stage run once all five seeds are there.
W=${W:-/work/frozen-l4h}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/docs/results; O=/work/main/research/results/long4x
R=/work/main/research/results/cross_run
while pgrep -f "q4.sh|long4x/logs/queue.sh" > /dev/null; do sleep 20; done
[ -f $O/versus_long2x.json ] || { echo "screen not read yet: stop"; exit 0; }
if $PY -m research.rule1 $O/versus_long2x.json --shifts 8; then echo "rule 1 passes"
elif (cd /work/main && $PY -m research.rule1l --lever $O/runs/base_tpool1_long4x \
      --reference research/results/long2x/runs/base_tpool1_long2x --seeds 0 1 2 3 4 5); then
  echo "rule 1L passes"
else echo "rules 1 and 1L fail: no test-class stage"; exit 0; fi
LONG4X="--checkpoint best_after_last_drop --test-time-shifts 8 --time-pool 4,4,1 --epochs 252 --lr-step 84"
H=$D/cpu_headline_tpool_long4x_tta
for s in ${SEEDS:-0 1 2 3 4}; do
  [ -f ${H}_seeds/s$s/results.json ] && continue
  $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 --models baseline \
    --seeds $s --device cpu $LONG4X --out ${H}_seeds/s$s || exit 1
  echo "seed $s DONE $(date)"
done
for s in 0 1 2 3 4; do
  [ -f ${H}_seeds/s$s/results.json ] || { echo "seed $s not trained yet: stop"; exit 0; }
done
[ -f $H/results.json ] || $PY -m research.reproduce --stage merge \
  --merge ${H}_seeds/s{0,1,2,3,4} --out $H || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long4x_tta:baseline \
  --baseline docs/results/cpu_headline_tpool_long2x_tta:baseline \
  --out $R/long4x_vs_long2x || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long4x_tta:baseline \
  --baseline docs/results/cpu_headline_late_tta_xeon:baseline \
  --out $R/long4x_vs_default_xeon || exit 1
$PY -m research.gate $R/long4x_vs_long2x/gain.json --require positive
$PY -m research.gate $R/long4x_vs_default_xeon/gain.json --require excludes-zero
# propagation on these models (prediction only; RULES_propagate.md's setting unchanged),
# read whatever the gates say: the opt-in's test-class numbers on this recipe
cd $W || exit 1
P=$D/cpu_headline_tpool_long4x_prop
mkdir -p $P/models
for s in 0 1 2 3 4; do cp -n ${H}_seeds/s$s/models/* $P/models/; done
[ -f $P/results.json ] || $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 \
  --models baseline --seeds 0 1 2 3 4 --device cpu $LONG4X \
  --embedding-norm batch_propagated_l2 --stage test --out $P || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long4x_prop:baseline \
  --baseline docs/results/cpu_headline_tpool_long2x_prop:baseline --out $R/long4x_prop_vs_long2x_prop || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long4x_prop:baseline \
  --baseline docs/results/cpu_headline_late_tta_xeon:baseline --out $R/long4x_prop_vs_default_xeon || exit 1
echo "QUEUE DONE $(date)"
