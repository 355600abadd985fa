# research/results/rank/RULES_pool.md's queue, then the decorrelation lever's
# (RULES_decor.md; /tmp/q_decor.sh, a copy of logs/queue_decor.sh) while the session lasts.
W=${W:-/work/frozen-p}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/rank; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
$PY -m research.transfer.batch_classes --out $O --models-dir $R --variant base_ref \
  --seeds 0 1 2 3 4 5 --features-cache $F \
  --norms centred_l2 pool_centred_l2 pool_whitened_l2 --name pool_classes --tasks $T
echo "POOL DONE $(date)"
bash /tmp/q_decor.sh
