while pgrep -f "q_transfer_late.sh" >/dev/null; do sleep 60; done
cd /work/frozen-h
export PYTHONPATH=/work/frozen-h OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
R=/work/main/docs/results
mkdir -p $R/cpu_headline_time_late/models
for m in baseline halluaudio; do for s in 0 1 2; do
  for f in $R/cpu_headline_late/models/${m}_seed${s}.*; do
    [ -e $R/cpu_headline_time_late/models/$(basename $f) ] || cp $f $R/cpu_headline_time_late/models/
  done
done; done
$PY -m research.reproduce --data-home /work/shared/data/esc50 --models baseline halluaudio time_concept \
  --seeds 0 1 2 --floor --device cpu --checkpoint best_after_last_drop \
  --out $R/cpu_headline_time_late
echo QUEUE DONE
