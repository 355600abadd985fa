# RULES.md (end of stop 48): base_tpool1_long2x, one job at a time on the 2-core CPU,
# from a frozen worktree of the commit that adds the rule. Resumable: research.ablation run skips a seed
# whose run record exists.
W=${W:-/work/frozen-l2}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long2x; P=/work/main/research/results/pooling
TP=/work/main/research/results/time_pool
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
L=base_tpool1_long2x
# one heavy job at a time: wait for any other queue
while pgrep -f "queue_f2.sh|queue_d4|freq_pool/logs/queue|deep4/logs/queue" > /dev/null; do sleep 20; done
for s in $S; do
  $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
    --features-cache $F --variants $L --seeds $s --threads 2 || exit 1
done
$PY -m research.ensemble versus --out $O --models $O $TP --variant $L \
  --reference base_tpool1 --seeds $S --tta 1 8 --features-cache $F --name versus_tpool1 || exit 1
$PY -m research.ensemble versus --out $O --models $O $P --variant $L \
  --reference base_ref --seeds $S --tta 1 8 --features-cache $F --name versus_ref || exit 1
echo "IN-DOMAIN DONE $(date)"
$PY -m research.transfer.layers --out $O --variants $L --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name transfer --tasks $T || exit 1
$PY -m research.transfer.layers --out $O --variants $L --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name against_tpool1 --against $TP base_tpool1 --tasks $T || exit 1
echo "QUEUE DONE $(date)"
