# research/results/rank/RULES.md's queue. Run from a frozen worktree of the rule's commit.
W=${W:-/work/frozen-w}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/rank; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
$PY -m research.transfer.rank --out $O --models-dir $R --variant base_ref --seeds $S \
  --features-cache $F --tasks $T
echo "RANK DONE $(date)"
$PY -m research.transfer.layers --out $R --name whiten --variants base_ref --seeds $S \
  --depths block3 --norms centred_l2 whitened_l2 batch_whitened_l2 \
  --versus-norm centred_l2 --tta 1 8 --passes 10 --features-cache $F --tasks $T \
  && mv $R/whiten.md $R/whiten.json $O/
echo "QUEUE DONE $(date)"
