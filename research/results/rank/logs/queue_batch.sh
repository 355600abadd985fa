# research/results/rank/RULES_batch.md's queue, then the decorrelation lever's
# (RULES_decor.md; logs/queue_decor.sh from its own frozen worktree) for as long as the
# session lasts (a finished seed is skipped when the queue runs again).
W=${W:-/work/frozen-b}
while pgrep -f "q_head.sh" > /dev/null; do sleep 20; done
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/rank; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
$PY -m research.transfer.batch_classes --out $O --models-dir $R --variant base_ref \
  --seeds 0 1 2 3 4 5 --features-cache $F --tasks $T
echo "BATCH DONE $(date)"
bash /tmp/q_decor.sh
