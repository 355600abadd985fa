# research/results/time_pool/RULES.md's queue, one job at a time on the 2-core CPU.
# First started from /work/frozen-t (667e501); stopped before any lever run, because
# research.ablation's build() did not pass time_pool to the estimator at that commit
# (base_tpool1 would have trained base_ref; found by review). The control run it had
# started (base_ref seed 0, which time_pool does not touch) was left to finish. Started
# again from /work/frozen-t2, the commit that passes it (tested: every variant setting
# reaches the estimator), after that control run; the control line below is what ran.
cd /work/frozen-t2
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-t2 OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/time_pool; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
# the control: base_ref seed 0 again, to compare with stop 41's history
[ -f $O/control/runs/base_ref_seed0.json ] || $PY -m research.ablation run --out $O/control \
  --probe 5 --epochs 63 --lr-step 21 --features-cache $F --variants base_ref --seeds 0 \
  --threads 2
for s in $S; do
  $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
    --features-cache $F --variants base_tpool1 --seeds $s --threads 2
done
$PY -m research.ensemble versus --out $O --models $O $R --variant base_tpool1 \
  --reference base_ref --seeds $S --tta 1 8 --features-cache $F --name versus_base_tpool1
$PY -m research.transfer.layers --out $O --variants base_tpool1 --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name transfer --tasks $T
$PY -m research.transfer.layers --out $O --variants base_tpool1 --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name against_ref --against $R base_ref --tasks $T
echo QUEUE DONE
