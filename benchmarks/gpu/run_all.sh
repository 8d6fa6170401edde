#!/usr/bin/env bash
# Everything this project measures on the lent GPU machine, in one device call (about 8 minutes):
#
#   1. alone on the GPU (so that the timings are clean): seqrec's side of the peers table (SASRec, CE,
#      S3-Rec Beauty, the sizes of benchmarks/peers/compare.py) in fp32 and bf16, and benchmarks/hardware.py
#      (matmul peak, FLOPs per epoch, achieved FLOP/s per model);
#   2. then, sharing the GPU: the model zoo (benchmarks/gpu/run_zoo.sh, its own time budget) and the three
#      transfer benchmarks (benchmarks/transfer.py) as parallel processes.
#
#   OUT="$OUT" bash benchmarks/gpu/run_all.sh          (device call: carry [".gpu/carry"], timeout 560)
#
# Needs .gpu/carry from benchmarks/gpu/prepare.sh. Back in $OUT: run_zoo.sh's five files, all.log, and
# extra.tar.gz (speed, hardware and transfer results with their logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/all-out}"
PY="${PY:-python3}"
CARRY="$PWD/.gpu/carry"
EXTRA=/tmp/extra
ZOO_BUDGET="${ZOO_BUDGET:-300}"
TARGET_EPOCHS="${TARGET_EPOCHS:-30}"
DEVICE="${DEVICE:-cuda}"    # DEVICE=cpu with SMOKE=1 for a local check of the plumbing
SMOKE_ARGS=()
SPEED_EPOCHS=3
[ -n "${SMOKE:-}" ] && SMOKE_ARGS=(--source-epochs 1 --epochs 1) && SPEED_EPOCHS=1
mkdir -p "$OUT" && rm -rf "$EXTRA" && mkdir -p "$EXTRA/transfer" "$EXTRA/scratch" "$EXTRA/logs"

main() {
  echo "== run_all.sh $(date -u +%FT%TZ)"
  if [ "${ZOO_SITE:-}" != "none" ]; then
    rm -rf /tmp/site && tar -xJf "$CARRY/site.tar.xz" -C /tmp || { echo "could not unpack site"; return 2; }
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$PY" -c "import faiss" >/dev/null 2>&1 || export PYTHONPATH="$CARRY/stub:$PYTHONPATH"
  export SEQREC_DATA_MIRROR="$CARRY/data" SEQREC_CACHE_DIR="$CARRY/cache" HF_HUB_OFFLINE=1
  export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
  "$PY" -c "import seqrec, torch; print('seqrec ok; torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" || return 2

  if [ -n "${SKIP_SPEED:-}" ]; then echo "== 1. skipped (SKIP_SPEED)"; else
  echo "== 1. speed, alone on the GPU"
  for precision in fp32 bf16; do
    timeout 90 "$PY" benchmarks/peers/seqrec_run.py --interactions "$CARRY/peerdata/s3rec-beauty/interactions.csv" \
      --loss CE --epochs "$SPEED_EPOCHS" --eval-every 1 --max-len 50 --hidden 64 --inner 64 --layers 2 --heads 2 --dropout 0.2 \
      --batch-size 256 --lr 0.001 --threads 2 --seed 42 --device "$DEVICE" --precision "$precision" \
      > "$EXTRA/speed_beauty_ce_$precision.json" 2> "$EXTRA/logs/speed_$precision.log"
    echo "speed $precision rc=$? $(tail -c 400 "$EXTRA/speed_beauty_ce_$precision.json")"
  done
  [ -z "${SMOKE:-}" ] && timeout 100 "$PY" -m benchmarks.hardware --device "$DEVICE" --epochs 2 --bf16 > "$EXTRA/logs/hardware.log" 2>&1
  echo "hardware rc=$?"
  for f in benchmarks/results/hardware.json benchmarks/results/hardware.md; do
    cp "$f" "$EXTRA/$(basename "${f/hardware/hardware_$DEVICE}")" 2>/dev/null
  done
  fi

  echo "== 2. zoo and transfer, sharing the GPU ($(date -u +%T))"
  local t="$((ZOO_BUDGET + 40))"
  local pids=()
  for exp in ssept-wikipedia text-lastfm attribute; do
    timeout "$t" "$PY" -m benchmarks.transfer --experiment "$exp" --device "$DEVICE" --threads 1 \
      --source-epochs 200 --epochs "$TARGET_EPOCHS" --patience 3 --out "$EXTRA/transfer" --work "$EXTRA/scratch/$exp" \
      "${SMOKE_ARGS[@]}" \
      > "$EXTRA/logs/transfer_$exp.log" 2>&1 &
    pids+=($!)
  done
  if [ -n "${SMOKE:-}" ]; then
    ZOO_SITE=none OUT="$OUT" ZOO_WORK=/tmp/zoo bash benchmarks/gpu/run_zoo.sh --smoke
  else
    ZOO_SITE=none OUT="$OUT" ZOO_WORK=/tmp/zoo bash benchmarks/gpu/run_zoo.sh --budget "$ZOO_BUDGET" --concurrency 7
  fi
  echo "zoo rc=$?"
  for pid in "${pids[@]}"; do wait "$pid"; echo "transfer pid $pid rc=$?"; done
  ls -la "$OUT"
}

# the results so far, every 30 s, so that a call cut off at its time limit still returns them
( while sleep 30; do tar -czf "$OUT/extra.tar.gz.tmp" -C "$EXTRA" --exclude scratch . && mv "$OUT/extra.tar.gz.tmp" "$OUT/extra.tar.gz"; done ) &
SNAPSHOT=$!
main 2>&1 | tee -a "$OUT/all.log"
kill "$SNAPSHOT" 2>/dev/null
tar -czf "$OUT/extra.tar.gz" -C "$EXTRA" --exclude scratch . 2>/dev/null
rm -f "$OUT/extra.tar.gz.tmp"
exit 0
