#!/bin/bash
# The second device call of 2026-12-04 (H200): the library's CUDA tests, and more seeds of
# the baseline reference for the transfer question of issue 23 (goal 2): base_ref on the
# levers' setup (30 training classes, 5 probe classes held out, the long recipe), seeds
# SEEDS (default 3-12, one process each), then on the same GPU each kept checkpoint against
# its untrained twin on the two off-domain tasks (`transfer.layers`, centred-L2, 1 and 8
# shifts). Carried as for research/device_width_run.sh (.gpu/esc50_f16.npz, .gpu/tasks/,
# .whl/ with cffi and pycparser too). DRY=1 PY=.venv/bin/python OUT=/tmp/dry: a CPU check.
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
export PYTHONUNBUFFERED=1
PY=${PY:-python3}; DEV=cuda; X=""; T=/tmp/seeds; TRAIN_S=${TRAIN_S:-240}; END=${END:-380}
SEEDS=${SEEDS:-3 4 5 6 7 8 9 10 11 12}; TTA="1 8"
if [ -n "${DRY:-}" ]; then
  DEV=cpu; T=/tmp/dry_seeds; END=100000; TTA=1
  X="--epochs 1 --episodes 2 --lr-step 1 --passes 2 --probe-passes 2"
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
  nvidia-smi -L
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
rm -rf $T; mkdir -p $T/logs
C=.gpu/esc50_f16.npz; W=$T/seeds
[ -z "${DRY:-}" ] && { timeout 200 $PY -m pytest -q -p no:cacheprovider -m gpu --continue-on-collection-errors tests \
  > $T/logs/gpu_tests.log 2>&1 & }
echo "== training, $(el) s"
for s in $SEEDS; do
  OMP_NUM_THREADS=1 timeout $TRAIN_S $PY -m research.ablation run --out $W --probe 5 \
    --epochs 63 --lr-step 21 --device $DEV --threads 1 --features-cache $C --seeds $s \
    --variants base_ref $X > $T/logs/base_ref_s$s.log 2>&1 &
done
wait
grep -h "fit \|Error" $T/logs/base_ref_s*.log | cut -c1-200
tar czf $OUT/seeds_runs.tgz -C $T seeds/runs logs
DONE=$(for s in $SEEDS; do [ -f $W/models/base_ref_seed$s.joblib ] && printf "%s " $s; done)
echo "== transfer of seeds $DONE, $(el) s"
OMP_NUM_THREADS=8 timeout $(( END - $(el) )) $PY -m research.transfer.layers --out $W \
  --variants base_ref --seeds $DONE --depths block3 --norms centred_l2 --tta $TTA \
  --passes 10 --tasks .gpu/tasks/spoken_words .gpu/tasks/instruments --device $DEV \
  --features-cache $C --name transfer_seeds > $T/logs/transfer.log 2>&1
tail -n 4 $T/logs/transfer.log; tail -n 3 $T/logs/gpu_tests.log 2>/dev/null
cp $T/logs/*.log $W/
tar czf $OUT/seeds_results.tgz -C $T --exclude=seeds/models --exclude=seeds/transfer_features \
  --exclude=seeds/runs seeds
(cd $W && tar czf $OUT/seeds_models.tgz models)
ls -la $OUT; echo "== end, $(el) s"
