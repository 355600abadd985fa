#!/bin/bash
# One device call (H200): the capacity lever of issue 23 (research/results/width/RULES.md).
# Trains base_ref, base_wide128, base_wide256, hallu_per_view and hallu_pv_wide128 on the
# levers' setup (30 training classes, 5 probe classes held out, the long recipe), seeds
# 0-2, each (variant, seed) in its own process on the one GPU; then the rule's scores on
# the same GPU: `ensemble versus` (validation and probe classes, centred-L2, 1 and 8
# shifts) and `transfer.layers` (trained vs untrained twin on the two off-domain tasks),
# the CUDA tests beside the training. Results come back in $OUT as archives.
# Run from the repository root with, beside it (ignored by .git/info/exclude, carried):
#   .gpu/esc50_f16.npz   ESC-50's training and validation classes' log-mel
#                        (`reproduce --features-cache`, then float16: at most 0.03 dB off)
#   .gpu/tasks/          the off-domain task folders (`research.transfer.data`, as FLAC)
#   .whl/                wheels of skorch, librosa and their needs missing there (soundfile
#                        needs cffi and pycparser; the persistence tests need skops)
# DRY=1 PY=.venv/bin/python OUT=/tmp/dry: a check of the script here (CPU, a few steps).
set -u
T0=$(date +%s); left() { echo $(( $1 - ($(date +%s) - T0) )); }
export PYTHONUNBUFFERED=1
# TRAIN_S: each fit's deadline; END: the scoring's, from the start (the call's limit is 600 s)
PY=${PY:-python3}; DEV=cuda; X=""; T=/tmp/width; TRAIN_S=${TRAIN_S:-420}; END=${END:-570}
if [ -n "${DRY:-}" ]; then
  DEV=cpu; T=/tmp/dry_width; END=100000
  X="--epochs 1 --episodes 2 --lr-step 1 --passes 2 --probe-passes 2"
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
  nvidia-smi -L
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
rm -rf $T; mkdir -p $T/logs
C=.gpu/esc50_f16.npz; W=$T/width
$PY -c "import torch, sklearn, skorch, librosa, numpy; print('torch', torch.__version__, \
torch.cuda.is_available(), 'sklearn', sklearn.__version__, 'skorch', skorch.__version__, \
'librosa', librosa.__version__, 'numpy', numpy.__version__)"
[ -z "${DRY:-}" ] && { timeout 150 $PY -m pytest -q -p no:cacheprovider -m gpu --continue-on-collection-errors tests \
  > $T/logs/gpu_tests.log 2>&1 & }
echo "== training, $(left 0) s"
# the longest fits first; one thread each (16 cores, 15 processes)
for v in hallu_pv_wide128 hallu_per_view base_wide256 base_wide128 base_ref; do
  for s in 0 1 2; do
    OMP_NUM_THREADS=1 timeout $TRAIN_S $PY -m research.ablation run --out $W --probe 5 \
      --epochs 63 --lr-step 21 --device $DEV --threads 1 --features-cache $C --seeds $s \
      --variants $v $X > $T/logs/${v}_s$s.log 2>&1 &
  done
done
wait
grep -h "fit \|Error\|error" $T/logs/*_s?.log | cut -c1-200
# the trained models and runs come back even if the scoring runs out of time
for s in 0 1 2; do (cd $W && tar czf $OUT/models_s$s.tgz models/*_seed$s.joblib); done
tar czf $OUT/width_runs.tgz -C $T width/runs logs
echo "== scoring, $(left 0) s"
$PY -m research.ablation report --out $W > $T/logs/report.log 2>&1
TASKS=".gpu/tasks/spoken_words .gpu/tasks/instruments"
for v in base_wide128 base_wide256; do
  OMP_NUM_THREADS=4 timeout $(left $END) $PY -m research.ensemble versus --out $W --models $W \
    --variant $v --reference base_ref --seeds 0 1 2 --tta 1 8 --name versus_${v#base_} \
    --features-cache $C > $T/logs/versus_$v.log 2>&1 &
done
OMP_NUM_THREADS=4 timeout $(left $END) $PY -m research.transfer.layers --out $W \
  --variants base_ref base_wide128 base_wide256 --seeds 0 1 2 --depths block3 \
  --norms centred_l2 --tta 1 8 --passes 10 --tasks $TASKS --device $DEV \
  --features-cache $C --name transfer_width > $T/logs/transfer.log 2>&1 &
wait
tail -n 3 $T/logs/versus_*.log $T/logs/transfer.log $T/logs/gpu_tests.log 2>/dev/null
echo "== packing, $(left 0) s"
cp $T/logs/*.log $W/ 2>/dev/null
tar czf $OUT/width_results.tgz -C $T --exclude=width/models --exclude=width/transfer_features \
  --exclude=width/runs width
ls -la $OUT
echo "== end, $(left 0) s"
