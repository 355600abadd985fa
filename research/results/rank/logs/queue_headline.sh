# research/results/rank/RULES_headline.md's queue; run from a frozen worktree of its commit.
W=${W:-/work/frozen-h}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/rank
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
for RUN in cpu_headline_late_tta_xeon cpu_headline_tpool_tta; do
  $PY -m research.transfer.norms --run /work/main/docs/results/$RUN --out $O \
    --name headline_$RUN --norms centred_l2 batch_centred_l2 whitened_l2 \
    batch_whitened_l2 --versus-norm centred_l2 --tta 1 8 --passes 10 \
    --tasks $T
  echo "$RUN DONE $(date)"
done
echo "QUEUE DONE $(date)"
