# RULES_hallu.md's rule G3c: HalluAudio on long2x_tpool_tta8, from a frozen worktree of the
# commit that adds the rule, alone on the CPU. Resumable: a seed whose folder holds
# results.json is kept; a merged run is not merged again.
W=${W:-/work/frozen-g3c}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/docs/results
O=/work/main/research/results/long2x
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
while pgrep -f "qs.sh|q4.sh|queue_splits.sh|long4x/logs/queue.sh" > /dev/null; do sleep 20; done
for s in ${SEEDS:-0 1 2 3 4}; do
  [ -f $D/cpu_headline_hallu_long2x_seeds/s$s/results.json ] && continue
  $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 --models halluaudio \
    --seeds $s --device cpu --recipe long2x_tpool_tta8 \
    --out $D/cpu_headline_hallu_long2x_seeds/s$s || exit 1
  echo "seed $s DONE $(date)"
done
for s in 0 1 2 3 4; do
  [ -f $D/cpu_headline_hallu_long2x_seeds/s$s/results.json ] || { echo "seed $s not trained yet: stop"; exit 0; }
done
[ -f $D/cpu_headline_hallu_long2x/results.json ] || \
  $PY -m research.reproduce --stage merge --merge $D/cpu_headline_hallu_long2x_seeds/s{0,1,2,3,4} \
    --out $D/cpu_headline_hallu_long2x || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_hallu_long2x:halluaudio \
  --baseline docs/results/cpu_headline_tpool_long2x_tta:baseline \
  --out research/results/cross_run/hallu_long2x || exit 1
for s in 0 1 2 3 4; do
  [ -f $D/cpu_headline_tpool_long2x_tta/models/baseline_seed$s.joblib ] || \
    { echo "baseline model seed $s missing: off-domain reading waits"; exit 0; }
done
cd $W || exit 1
$PY -m research.transfer.pool --run $D/cpu_headline_hallu_long2x --out $O \
  --name hallu_transfer --k 5 --pool-sizes all --tta 1 8 --passes 10 \
  --against $D/cpu_headline_tpool_long2x_tta --against-kind baseline --tasks $T || exit 1
echo "QUEUE DONE $(date)"
