# research/results/rank/RULES_hallu_transfer.md's rule G3b queue; run from a frozen worktree.
# Resumable: a seed whose folder holds results.json is not trained again.
W=${W:-/work/frozen-g3b}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
D=/work/main/docs/results
O=/work/main/research/results/rank
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
# one heavy job at a time: wait for the other queues
while pgrep -f "queue_distill.sh|queue_hallu.sh" > /dev/null; do sleep 20; done
for s in 0 1 2 3 4; do
  [ -f $D/cpu_headline_hallu_tpool_seeds/s$s/results.json ] && continue
  $PY -m research.reproduce --data-home $SKLEARN_HALLU_ESC50 --models halluaudio \
    --seeds $s --device cpu --checkpoint best_after_last_drop --test-time-shifts 8 \
    --time-pool 4,4,1 --out $D/cpu_headline_hallu_tpool_seeds/s$s || exit 1
  echo "seed $s DONE $(date)"
done
$PY -m research.reproduce --stage merge --merge $D/cpu_headline_hallu_tpool_seeds/s{0,1,2,3,4} \
  --out $D/cpu_headline_hallu_tpool || exit 1
$PY -m research.transfer.pool --run $D/cpu_headline_hallu_tpool --out $O \
  --name hallu_tpool_transfer --k 5 --pool-sizes all --tta 1 8 --passes 10 \
  --against $D/cpu_headline_tpool_tta --against-kind baseline --tasks $T
$PY -m research.cross_run_gain --model $D/cpu_headline_hallu_tpool:halluaudio \
  --baseline $D/cpu_headline_tpool_tta:baseline --out /work/main/research/results/cross_run/hallu_tpool
echo "QUEUE DONE $(date)"
