cd /work/frozen-h
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-h OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz; O=/work/main/research/results
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="3 4 5 6 7 8 9 10"
for s in $S; do
  $PY -m research.ablation run --out $O/averaging --probe 5 --epochs 63 --lr-step 21 \
    --features-cache $F --variants base_swa_hold --seeds $s --threads 2
done
$PY -m research.ensemble versus --out $O/averaging --models $O/averaging $O/transfer_seeds \
  --variant base_swa_hold --reference base_ref --seeds $S --tta 1 8 --features-cache $F --name versus_hold
$PY -m research.ensemble versus --out $O/averaging --models $O/averaging \
  --variant base_swa_hold --reference base_swa --seeds $S --tta 1 8 --features-cache $F --name hold_vs_swa
$PY -m research.transfer.layers --out $O/averaging --variants base_swa_hold --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F --name transfer_hold --tasks $T
$PY -m research.transfer.layers --out $O/averaging --variants base_swa_hold --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F --name against_ref_hold \
  --against $O/transfer_seeds base_ref --tasks $T
echo QUEUE DONE
