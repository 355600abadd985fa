# RULES_headline.md's run, from a frozen worktree of the commit after the screen's
# results (/work/frozen-t3), alone on the 2-core CPU.
cd /work/frozen-t3
export PYTHONPATH=/work/frozen-t3 OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
$PY -m research.reproduce --data-home /work/shared/data/esc50 --models baseline \
  --seeds 0 1 2 3 4 --device cpu --checkpoint best_after_last_drop --test-time-shifts 8 \
  --time-pool 4,4,1 --out /work/main/docs/results/cpu_headline_tpool_tta
cd /work/main
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_tta:baseline \
  --baseline docs/results/cpu_headline_late_tta:baseline \
  --out research/results/cross_run/baseline_tpool_vs_late_tta
echo QUEUE DONE
