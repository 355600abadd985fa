# The rest of research/results/spectral/RULES.md's queue, for the next session.
# queue.sh was stopped in stop 43 during base_filtergain6 (the session's end); the
# runs it finished are in ../runs and their models in ../models (not committed).
# `ablation run` skips a seed whose runs/*.json exists; if the machine lost models/,
# delete those base_filtergain6 json files first so that they are trained again (the
# same seed gives the same run on the same kernels: ../../time_pool/control). Run from a
# frozen worktree of the rule's commit d09bef2 (later commits change the lever's
# docstrings and refuse a fractional shift; what runs is the same),
# e.g. `git worktree add -f /work/frozen-s d09bef2 --detach`.
cd /work/frozen-s
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=/work/frozen-s OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; F=/work/main/.gpu/esc50_f16.npz
O=/work/main/research/results/spectral; R=/work/main/research/results/pooling
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
S="0 1 2 3 4 5"
L=base_filtergain6
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
$PY -m research.ablation run --out $O/control --probe 5 --epochs 63 --lr-step 21 \
  --features-cache $F --variants base_ref --seeds 0 --threads 2
echo QUEUE DONE
