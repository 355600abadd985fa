# RULES_propagate_grid.md's screen: from a frozen worktree of the commit that adds it, alone
# on the CPU. Prediction only (the screen models are loaded, nothing retrained).
W=${W:-/work/frozen-pg}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long2x
GRID=$($PY -c "from research.transfer.layers import PROPAGATION_GRID as G, grid_norm as n; print(' '.join(n(k, a) for k, a in G))")
$PY -m research.transfer.layers --out $O --name propagate_grid --variants base_tpool1_long2x \
  --seeds 0 1 2 3 4 5 --depths block3 --nets trained \
  --norms centred_l2 batch_propagated_l2 $GRID --versus-norm batch_propagated_l2 \
  --tta 8 --passes 10 --features-cache $F || exit 1
$PY -m research.propagate_grid $O/propagate_grid.json --shifts 8
echo "QUEUE DONE $(date)"
