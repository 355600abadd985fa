# RULES_against.md's queue: base_ref seeds 3-5 from the screen's frozen worktree (a33be56).
cd /work/frozen-p
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-p OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz; O=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
for s in 3 4 5; do
  $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
    --features-cache $F --variants base_ref --seeds $s --threads 2
done
$PY -m research.transfer.layers --out $O --variants base_pool_meanstd --seeds 3 4 5 \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name against_ref_confirm --against $O base_ref --tasks $T
echo QUEUE DONE
