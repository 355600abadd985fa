# research/results/long4x/RULES.md's screen: from a frozen worktree of the commit that adds
# it, alone on the CPU. Resumable: research.ablation run skips a seed whose run record exists.
W=${W:-/work/frozen-l4}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long4x; L2=/work/main/research/results/long2x
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="${SEEDS:-0 1 2 3 4 5}"
while pgrep -f "qs.sh|queue_splits.sh" > /dev/null; do sleep 20; done
# the reference: long2x's own models if all six are on the disk, else all six again
REF=$L2
for s in 0 1 2 3 4 5; do [ -f $L2/models/base_tpool1_long2x_seed$s.joblib ] || REF=$O/ref_long2x; done
[ -d $O/ref_long2x ] && REF=$O/ref_long2x
echo "reference: $REF"
for s in $S; do
  $PY -m research.ablation run --out $O --probe 5 --epochs 63 --lr-step 21 \
    --features-cache $F --variants base_tpool1_long4x --seeds $s --threads 2 || exit 1
  if [ $REF = $O/ref_long2x ]; then
    $PY -m research.ablation run --out $REF --probe 5 --epochs 63 --lr-step 21 \
      --features-cache $F --variants base_tpool1_long2x --seeds $s --threads 2 || exit 1
  fi
  echo "seed $s DONE $(date)"
done
for s in 0 1 2 3 4 5; do  # the readings need all six seeds of both arms
  [ -f $O/runs/base_tpool1_long4x_seed$s.json ] || { echo "seed $s not trained yet: stop"; exit 0; }
done
$PY -m research.ensemble versus --out $O --models $O $REF --variant base_tpool1_long4x \
  --reference base_tpool1_long2x --seeds 0 1 2 3 4 5 --tta 1 8 --features-cache $F \
  --name versus_long2x || exit 1
$PY -m research.rule1 $O/versus_long2x.json --shifts 8
# rule 1L (RULES.md's stop-51 addendum; research/rule1l.py exists from 9d9d90e on)
(cd /work/main && $PY -m research.rule1l --lever $O/runs/base_tpool1_long4x \
  --reference $REF/runs/base_tpool1_long2x --seeds 0 1 2 3 4 5)
$PY -m research.transfer.layers --out $O --variants base_tpool1_long4x --seeds 0 1 2 3 4 5 \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name transfer --tasks $T || exit 1
echo "QUEUE DONE $(date)"
