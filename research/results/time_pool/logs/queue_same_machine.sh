# RULES_same_machine.md's run, from /work/frozen-t3 (591b7c8), alone on the 2-core CPU.
cd /work/frozen-t3
export PYTHONPATH=/work/frozen-t3 OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
$PY -m research.reproduce --data-home /work/shared/data/esc50 --models baseline \
  --seeds 0 1 2 3 4 --device cpu --checkpoint best_after_last_drop --test-time-shifts 8 \
  --out /work/main/docs/results/cpu_headline_late_tta_xeon
cd /work/main
$PY -m research.cross_run_gain --model docs/results/cpu_headline_tpool_tta:baseline \
  --baseline docs/results/cpu_headline_late_tta_xeon:baseline \
  --out research/results/cross_run/baseline_tpool_vs_late_tta_xeon
$PY -m research.cross_run_gain --model docs/results/cpu_headline_late_tta_xeon:baseline \
  --baseline docs/results/cpu_headline_late_tta:baseline \
  --out research/results/cross_run/baseline_xeon_vs_epyc_late_tta
echo QUEUE DONE
