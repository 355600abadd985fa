# RULES_transfer.md's queue (rules H and P1 on the named recipe's five models), from a frozen
# worktree of the commit that adds the rule, alone on the CPU.
W=${W:-/work/frozen-lt}
cd $W || exit 1
export SKLEARN_HALLU_ESC50=/work/shared/data/esc50 PYTHONPATH=$W OMP_NUM_THREADS=2
PY=/work/main/.venv/bin/python
O=/work/main/research/results/long2x
RUN=/work/main/docs/results/cpu_headline_tpool_long2x_tta
T="/work/transfer_data15/spoken_words /work/transfer_data15/instruments"
while pgrep -f "q4.sh|qh.sh|qs.sh|research.ablation run" > /dev/null; do sleep 20; done
[ -f $O/headline_transfer.json ] || $PY -m research.transfer.norms --run $RUN --out $O \
  --name headline_transfer --norms centred_l2 batch_centred_l2 whitened_l2 \
  batch_whitened_l2 --versus-norm centred_l2 --tta 1 8 --passes 10 --tasks $T || exit 1
echo "norms DONE $(date)"
[ -f $O/pool_transfer.json ] || $PY -m research.transfer.pool --run $RUN --out $O \
  --name pool_transfer --k 5 --pool-sizes 10 25 50 100 200 all --tta 1 8 --passes 10 \
  --tasks $T || exit 1
echo "QUEUE DONE $(date)"
