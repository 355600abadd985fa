# Stop 49 (RULES.md addendum "stop 49, before the run"): the machine lost every git-ignored
# model, so the screen's six seeds and its reference base_tpool1's six seeds are trained again,
# interleaved (a pair per seed), from the frozen worktree of a778c34, alone on the CPU.
# Resumable: research.ablation run skips a seed whose run record exists.
W=${W:-/work/frozen-l2}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/long2x; R=$O/ref_tpool1
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
L=base_tpool1_long2x
for s in $S; do
  for v in "$L $O" "base_tpool1 $R"; do set -- $v
    $PY -m research.ablation run --out $2 --probe 5 --epochs 63 --lr-step 21 \
      --features-cache $F --variants $1 --seeds $s --threads 2 || exit 1
  done
done
$PY -m research.ensemble versus --out $O --models $O $R --variant $L \
  --reference base_tpool1 --seeds $S --tta 1 8 --features-cache $F --name versus_tpool1 || exit 1
echo "IN-DOMAIN DONE $(date)"
$PY -m research.transfer.layers --out $O --variants $L --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name transfer --tasks $T || exit 1
$PY -m research.transfer.layers --out $O --variants $L --seeds $S \
  --depths block3 --norms centred_l2 --tta 1 --passes 10 --features-cache $F \
  --name against_tpool1 --against $R base_tpool1 --tasks $T || exit 1
echo "QUEUE DONE $(date)"
