#!/usr/bin/env bash
# The CUDA checks, the training-step profile and the CUDA-graph A/B on the lent GPU, in one device call:
#
#   OUT="$OUT" bash benchmarks/gpu/run_checks.sh     (carry .gpu/carry/{site.tar.xz,stub,peerdata}; ~80 s on
#                                                     the H100 for the tests and the profile)
#
# 1. the device-parametrised tests (`-k "$TESTS_K"`, default `cuda`: every test that takes the `device`
#    fixture of tests/conftest.py runs there on CUDA: attention and encoders against PyTorch's kernel and
#    the authors' graph, chunked CE against autograd in float32 and bf16, ranks and top K over item blocks
#    against whole rows, the whole job on CUDA in float32 and bf16, and CUDA-graph training); output in
#    $OUT/pytest_cuda.txt;
# 2. PROFILE=1 (default): benchmarks/gpu/step_profile.py on S3-Rec Beauty: $OUT/step_profile.json,
#    profile_cpu.txt, profile_cuda.txt;
# 3. GRAPHS=1: benchmarks/gpu/graphs_ab.py on S3-Rec Beauty: $OUT/graphs_ab.json.
# Needs .gpu/carry from benchmarks/gpu/prepare.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/checks-out}"
PY="${PY:-python3}"
CARRY="$PWD/.gpu/carry"
BEAUTY="$CARRY/peerdata/s3rec-beauty/interactions.csv"
mkdir -p "$OUT"
rm -rf /tmp/site && tar -xJf "$CARRY/site.tar.xz" -C /tmp || { echo "could not unpack site"; exit 2; }
"$PY" -c "import faiss" >/dev/null 2>&1 || STUB="$CARRY/stub:"
export PYTHONPATH="/tmp/site:${STUB:-}$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
echo "== tests $(date -u +%T)"
timeout "${TEST_SECONDS:-200}" "$PY" -m pytest -p no:cacheprovider -q -rfE -k "${TESTS_K:-cuda}" tests/test_api.py \
  tests/models/test_attention.py tests/models/test_losses_chunked.py tests/evaluation/test_evaluator.py \
  tests/training/test_graphs.py > "$OUT/pytest_cuda.txt" 2>&1
echo "pytest rc=$?"; tail -n 25 "$OUT/pytest_cuda.txt"
if [ "${PROFILE:-1}" = 1 ]; then
  echo "== profile $(date -u +%T)"
  timeout "${PROFILE_SECONDS:-200}" "$PY" benchmarks/gpu/step_profile.py --interactions "$BEAUTY" --out "$OUT" \
    2> "$OUT/logs.txt" | tail -n 1
  echo "profile rc=$?"; tail -n 5 "$OUT/logs.txt"
  head -n 30 "$OUT/profile_cuda.txt" 2>/dev/null | cut -c1-200
fi
if [ "${GRAPHS:-0}" = 1 ]; then
  echo "== graphs $(date -u +%T)"
  timeout "${GRAPHS_SECONDS:-150}" "$PY" benchmarks/gpu/graphs_ab.py --interactions "$BEAUTY" --out "$OUT" \
    --rounds "${ROUNDS:-2}" 2>> "$OUT/logs.txt"
  echo "graphs rc=$?"; tail -n 8 "$OUT/logs.txt"
fi
echo "== done $(date -u +%T)"
