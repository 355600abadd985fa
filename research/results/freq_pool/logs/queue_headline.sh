# RULES.md's test-class run, only if rule 1 passed: from a frozen worktree of the commit
# that adds this script, alone on the CPU, after the screen's queue.
W=${W:-/work/frozen-f2h}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
while pgrep -f "queue_f2.sh|freq_pool/logs/queue.sh" > /dev/null; do sleep 20; done
$PY -m research.reproduce --data-home /work/shared/data/esc50 --models baseline \
  --seeds 0 1 2 3 4 --device cpu --checkpoint best_after_last_drop --test-time-shifts 8 \
  --time-pool 4,4,1 --freq-pool 4,4,2 --out /work/main/docs/results/cpu_headline_tpool_f2_tta || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_f2_tta:baseline \
  --baseline docs/results/cpu_headline_tpool_tta:baseline \
  --out research/results/cross_run/tpool_f2_vs_tpool || exit 1
echo "HEADLINE DONE $(date)"
