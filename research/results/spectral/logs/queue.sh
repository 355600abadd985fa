# research/results/spectral/RULES.md's queue, one job at a time on the 2-core CPU,
# run from a frozen worktree of the commit that adds the rule (/work/frozen-s).
cd /work/frozen-s
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-s OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/spectral; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
for L in base_fshift4 base_filtergain6; do
  for s in $S; do
    $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
      --features-cache $F --variants $L --seeds $s --threads 2
  done
  $PY -m research.ensemble versus --out $O --models $O $R --variant $L \
    --reference base_ref --seeds $S --tta 1 8 --features-cache $F --name versus_$L
  $PY -m research.transfer.layers --out $O --variants $L --seeds $S \
    --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
    --name transfer_$L --tasks $T
  $PY -m research.transfer.layers --out $O --variants $L --seeds $S \
    --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
    --name against_ref_$L --against $R base_ref --tasks $T
  echo "LEVER $L DONE $(date)"
done
# the control: base_ref seed 0 again, to compare with stop 41's and stop 42's histories
$PY -m research.ablation run --out $O/control --probe 5 --epochs 63 --lr-step 21 \
  --features-cache $F --variants base_ref --seeds 0 --threads 2
echo QUEUE DONE
