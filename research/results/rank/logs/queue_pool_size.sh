# research/results/rank/RULES_pool_size.md's queue; run from a frozen worktree of its commit.
W=${W:-/work/frozen-p}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
O=/work/main/research/results/rank
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
# one heavy job at a time: wait for the decorrelation queue
while pgrep -f "queue_decor.sh" > /dev/null; do sleep 20; done
for RUN in cpu_headline_late_tta_xeon cpu_headline_tpool_tta; do
  $PY -m research.transfer.pool --run /work/main/docs/results/$RUN --out $O \
    --name pool_size_$RUN --k 5 --pool-sizes 10 25 50 100 200 all --tta 1 8 \
    --passes 10 --tasks $T
  echo "$RUN DONE $(date)"
done
echo "QUEUE DONE $(date)"
