# RULES_label_prop.md's off-domain reading (reported), from a frozen worktree of the commit
# that adds it, alone on the CPU.
W=${W:-/work/frozen-lpo}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long2x
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
[ -f $O/label_prop_off.json ] || $PY -m research.transfer.layers --out $O --name label_prop_off \
  --variants base_tpool1_long2x --seeds 0 1 2 3 4 5 --depths block3 \
  --norms centred_l2 batch_propagated_l2 batch_labelprop_a0.9_cmn --versus-norm centred_l2 \
  --tta 8 --passes 10 --features-cache $F --tasks $T || exit 1
echo "QUEUE DONE $(date)"
