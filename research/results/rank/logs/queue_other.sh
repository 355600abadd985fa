# research/results/rank/RULES_other.md's queue; from a frozen worktree of its commit.
W=${W:-/work/frozen-o}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/rank; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
$PY -m research.transfer.batch_classes --out $O --models-dir $R --variant base_ref \
  --seeds 0 1 2 3 4 5 --features-cache $F --ks 5 10 \
  --norms centred_l2 other_centred_l2 other_whitened_l2 --name other_classes --tasks $T
echo "OTHER DONE $(date)"
