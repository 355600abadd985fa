# The pooling screen's queue (research/results/pooling/RULES.md), from a frozen worktree of
# commit a33be56, one job at a time on the 2-core CPU; seeds interleaved so that a cut
# queue still pairs every variant with its reference seed by seed.
cd /work/frozen-p
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-p OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz; O=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2"
for s in $S; do
  for v in base_ref base_pool_meanmax base_pool_meanstd; do
    $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
      --features-cache $F --variants $v --seeds $s --threads 2
  done
done
for v in base_pool_meanmax base_pool_meanstd; do
  $PY -m research.ensemble versus --out $O --models $O --variant $v --reference base_ref \
    --seeds $S --tta 1 8 --features-cache $F --name versus_$v
done
$PY -m research.transfer.layers --out $O --variants base_ref base_pool_meanmax base_pool_meanstd \
  --seeds $S --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name transfer --tasks $T
$PY -m research.transfer.layers --out $O --variants base_pool_meanmax base_pool_meanstd \
  --seeds $S --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name against_ref --against $O base_ref --tasks $T
echo QUEUE DONE
