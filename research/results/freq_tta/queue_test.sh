# research/results/freq_tta/RULES.md rule 2: the one look at the test classes; from a
# frozen worktree of its commit, after stop 46's other queue.
W=${W:-/work/frozen-f}
cd $W
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python; D=/work/main/docs/results; O=/work/main/research/results/freq_tta
while pgrep -f "queue_distill.sh" > /dev/null; do sleep 20; done
for r in cpu_headline_late_tta_xeon cpu_headline_tpool_tta; do
  $PY -m research.freq_tta test --run $D/$r --offsets 1 --out $O/test_$r || exit 1
  $PY -m research.cross_run_gain --model $O/test_$r:baseline_offsets1 \
    --baseline $D/$r:baseline --out $O/gain_$r
done
echo "QUEUE DONE $(date)"
