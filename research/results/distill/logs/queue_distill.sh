# Stop 46's queue: research/results/freq_tta/RULES.md's screen (prediction only), then
# research/results/distill/RULES.md's runs and readings; from a frozen worktree of its commit.
W=${W:-/work/frozen-k}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/distill; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
L=base_distill
# one heavy job at a time: wait for goal 3's queue
while pgrep -f "queue_hallu.sh" > /dev/null; do sleep 20; done
[ -f /work/main/research/results/freq_tta/screen.json ] || \
  $PY -m research.freq_tta screen --out /work/main/research/results/freq_tta --models $R \
    --variant base_ref --seeds $S --offsets 1 2 --tta 1 8 --passes 10 --features-cache $F \
    --name screen
echo "SCREEN DONE $(date)"
for s in $S; do
  $PY -m research.ablation run --out $O --teachers $R --probe 5 --epochs 63 --lr-step 21 \
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
echo "QUEUE DONE $(date)"
