#!/bin/bash
# One device call (H100): the training-way ablation on the validation and probe classes
# (research/ablation.py, 3 seeds in parallel processes), its pre-set rule (`ablation.py
# choose`), then the long reproduction with the chosen way, one process per seed, and one
# run that loads those models and tests them together (paired episodes).
# Run from the repository root with .gpu/esc50_logmel_f16.npz (`reproduce --features-cache`,
# stored as float16 to travel: at most 0.03 dB off) and .gpu/COMMIT (the commit) beside it,
# and the wheels of skorch and librosa (and their needs) in .whl/.
#   SEEDS="0 1 2"  seeds of the reproduction;  TRAIN_S=440  its training deadline (s)
#   RESUME=1 WAY=20  skip the ablation; train what the last call's per-seed runs lack
#   DRY=1 PY=.venv/bin/python OUT=/tmp/dry  a check of the script here (CPU, a few steps)
#   EMB=none  the reproduction's --embedding-norm: none (raw, default here), so that new
#   seeds merge with docs/results/gpu_h100_way20 (`reproduce --stage merge`), whose models
#   were not brought back; the models now come back in repro.tgz (about 1 MB each), so a
#   CPU run can test them again with --embedding-norm centered_l2
# The recorded run (research/results/ablation_way, docs/results/gpu_h100_way20): a first
# call with SEEDS="0 1 2 3 4" (ablation done, way 20 chosen, five baselines trained, every
# HalluAudio fit cut by the 440 s deadline), then on the same warm machine
# RESUME=1 WAY=20 SEEDS="0 1 2" TRAIN_S=255 TEST_S=385 OMP=5 (baselines loaded, HalluAudio
# trained, seeds 0-2 tested).
set -u
T0=$(date +%s); left() { echo $(( $1 - ($(date +%s) - T0) )); }
export PYTHONUNBUFFERED=1 SKLEARN_HALLU_COMMIT=$(cat .gpu/COMMIT)
# DRY=1: CPU, a few steps each (a check of the script, not a result)
PY=${PY:-python3}; DEV=cuda; XA=""; XR=""; T=/tmp
if [ -n "${DRY:-}" ]; then
  DEV=cpu; T=/tmp/dryrun; rm -rf $T; mkdir -p $T
  XA="--epochs 1 --episodes 2 --lr-step 1 --passes 2 --probe-passes 2"
  XR="--epochs 1 --episodes 2 --lr-step 1 --repeats 2 --val-episodes 10"
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L
$PY -c "import torch, sklearn, skorch, librosa, numpy; print(torch.__version__, torch.cuda.is_available(), sklearn.__version__, skorch.__version__, librosa.__version__, numpy.__version__)"
timeout 60 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_classifier.py 2>&1 | tail -3
C=.gpu/esc50_logmel_f16.npz
SEEDS=${SEEDS:-0 1 2}; TRAIN_S=${TRAIN_S:-440}; TEST_S=${TEST_S:-575}; EMB=${EMB:-none}
if [ -z "${RESUME:-}" ]; then
echo "== ablation $(left 0)"
for s in 0 1 2; do
  OMP_NUM_THREADS=5 timeout $(left 250) $PY -m research.ablation run --probe 5 --device $DEV \
    --threads 5 --features-cache $C --out $T/abl --seeds $s $XA \
    --variants base_ref base_way10 base_way20 hallu_per_view hallu_pv_way20 > $T/abl_s$s.log 2>&1 &
done; wait
grep -h "fit " $T/abl_s*.log
$PY -m research.ablation report --out $T/abl > /dev/null 2>&1
$PY -m research.ablation selection --out $T/abl > /dev/null 2>&1
$PY -m research.ablation choose --out $T/abl > $T/choose.log 2>&1; cat $T/choose.log
cp $T/abl_s*.log $T/choose.log $T/abl/
tar czf $OUT/ablation_way.tgz --exclude=abl/models -C $T abl
WAY=$(tail -1 $T/choose.log)
case "$WAY" in 5|20) ;; *) echo "choose failed (see choose.log): way 5"; WAY=5 ;; esac
fi
WAY=${WAY:-5}
echo "== long reproduction, train way $WAY $(left 0)"
for s in $SEEDS; do
  OMP_NUM_THREADS=${OMP:-3} timeout $(left $TRAIN_S) $PY -m research.reproduce --features-cache $C \
    --models baseline halluaudio --seeds $s --device $DEV --train-way $WAY --embedding-norm $EMB \
    $XR --out $T/r$s > $T/r$s.log 2>&1 &
done; wait
mkdir -p $T/repro/models
for s in $SEEDS; do cp $T/r$s/models/*.joblib $T/r$s/models/*.json $T/repro/models/ 2>/dev/null; grep -h "fit\b\|best epoch" $T/r$s.log | tail -2; done
DONE=$(for s in $SEEDS; do [ -f $T/repro/models/halluaudio_seed$s.joblib ] && printf "%s " $s; done)
echo "== test seeds: $DONE $(left 0)"
[ -n "$DONE" ] && timeout $(left $TEST_S) $PY -m research.reproduce --features-cache $C \
  --models baseline halluaudio --seeds $DONE --device $DEV --train-way $WAY --embedding-norm $EMB \
  $XR --out $T/repro > $T/repro.log 2>&1
tail -3 $T/repro.log; cp $T/r?.log $T/repro.log $T/repro/
tar czf $OUT/repro.tgz -C $T repro
sed -n '/Gain over/,/^$/p' $T/repro/results.md | head -8; grep -A6 "^| model | setting" $T/repro/results.md | head -12
echo "== end $(left 0)"
