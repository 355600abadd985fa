# RULES_label_prop.md's screen: from a frozen worktree of the commit that adds it, alone on
# the CPU. Prediction only (the screen models are loaded, nothing retrained).
W=${W:-/work/frozen-lp}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long2x
LP=$($PY -c "from research.transfer.layers import LABELPROP_GRID as G, labelprop_norm as n; print(' '.join(n(a, b) for a, b in G))")
[ -n "$LP" ] || { echo "no label-propagation norms: stop"; exit 1; }
$PY -m research.transfer.layers --out $O --name label_prop \
  --variants base_tpool1_long2x --seeds 0 1 2 3 4 5 --depths block3 --nets trained --union \
  --norms batch_propagated_l2 $LP --versus-norm batch_propagated_l2 \
  --tta 8 --passes 10 --features-cache $F || exit 1
$PY -m research.label_prop $O/label_prop.json --shifts 8
echo "QUEUE DONE $(date)"
