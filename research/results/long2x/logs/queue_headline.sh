# RULES.md's test-class run: after the screen's queue, only if rule 1 passed (read
# mechanically by research.rule1 from versus_tpool1.json); from a frozen worktree of the
# commit that adds this script, alone on the CPU.
W=${W:-/work/frozen-l2h}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
while pgrep -f "queue_l2.sh|long2x/logs/queue.sh" > /dev/null; do sleep 20; done
$PY -m research.rule1 /work/main/research/results/long2x/versus_tpool1.json --shifts 8 || exit 1
$PY -m research.reproduce --data-home /work/shared/data/esc50 --models baseline \
  --seeds 0 1 2 3 4 --device cpu --checkpoint best_after_last_drop --test-time-shifts 8 \
  --time-pool 4,4,1 --epochs 126 --lr-step 42 \
  --out /work/main/docs/results/cpu_headline_tpool_long2x_tta || exit 1
cd /work/main || exit 1
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_long2x_tta:baseline \
  --baseline docs/results/cpu_headline_tpool_tta:baseline \
  --out research/results/cross_run/tpool_long2x_vs_tpool || exit 1
echo "HEADLINE DONE $(date)"
