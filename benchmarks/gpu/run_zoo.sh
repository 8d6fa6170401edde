#!/usr/bin/env bash
# The model zoo on the lent GPU machine, from the repository root, in about 6 minutes:
#
#   bash benchmarks/gpu/run_zoo.sh [run_zoo.py options]        (device call: carry [".gpu/carry"])
#
# Needs .gpu/carry from benchmarks/gpu/prepare.sh: site.tar.xz (polars, pydantic & co. for CPython 3.12,
# which the image lacks), stub/faiss (imported by seqrec, never called here), data/ml-1m (PARTIAL
# MovieLens-1M). Writes to $OUT (default /tmp/zoo-out): runner.log (this script's output),
# model_zoo_gpu.json / .md, jobs.json, zoo_logs.tar.gz; see benchmarks/gpu/run_zoo.py. Then, here:
#   .venv/bin/python -m benchmarks.gpu.merge_back <fetched folder>
#
# Local check without a GPU (the venv has every package, so skip the carried site):
#   ZOO_SITE=none ZOO_FAISS_STUB=1 PY=.venv/bin/python OUT=/tmp/zoo-smoke bash benchmarks/gpu/run_zoo.sh --smoke
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/zoo-out}"
PY="${PY:-python3}"
CARRY="$PWD/.gpu/carry"
WORK="${ZOO_WORK:-/tmp/zoo}"

main() {
  echo "== run_zoo.sh $(date -u +%FT%TZ) on $(hostname); args: $*"
  if [ "${ZOO_SITE:-}" != "none" ]; then
    [ -f "$CARRY/site.tar.xz" ] || { echo "missing $CARRY/site.tar.xz: run prepare.sh, carry .gpu/carry"; return 2; }
    rm -rf /tmp/site
    tar -xJf "$CARRY/site.tar.xz" -C /tmp ||
      "$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall('/tmp')" "$CARRY/site.tar.xz" ||
      { echo "could not unpack site.tar.xz"; return 2; }
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
  if [ -n "${ZOO_FAISS_STUB:-}" ] || ! "$PY" -c "import faiss" >/dev/null 2>&1; then
    export PYTHONPATH="$CARRY/stub:$PYTHONPATH"  # seqrec imports faiss at import time; the zoo never calls it
    echo "faiss: stub ($CARRY/stub/faiss)"
  fi
  export SEQREC_DATA_MIRROR="${SEQREC_DATA_MIRROR:-$CARRY/data}"
  export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
  echo "python: $(command -v "$PY") $("$PY" -V 2>&1); PYTHONPATH=$PYTHONPATH; mirror=$SEQREC_DATA_MIRROR"
  echo "cpu cores: $(nproc); memory: $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB"}')"

  rm -rf "$WORK" && mkdir -p "$WORK"
  local sampler=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw \
      --format=csv -l 5 > "$WORK.gpu_util.csv" 2>&1 &  # beside $WORK: run_zoo.py wants it empty
    sampler=$!
  fi
  "$PY" -m benchmarks.gpu.run_zoo --out "$OUT" --work "$WORK" "$@"
  local rc=$?
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  echo "== run_zoo.sh exit $rc at $(date -u +%FT%TZ); files in $OUT:"
  ls -la "$OUT"
  return $rc
}

mkdir -p "$OUT"
main "$@" 2>&1 | tee -a "$OUT/runner.log"
exit "${PIPESTATUS[0]}"
