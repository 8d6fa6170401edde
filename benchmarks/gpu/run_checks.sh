#!/usr/bin/env bash
# The CUDA checks and the training-step profile on the lent GPU, in one device call:
#
#   OUT="$OUT" bash benchmarks/gpu/run_checks.sh     (carry .gpu/carry/{site.tar.xz,stub,peerdata}; ~80 s on
#                                                     the H100, the tests ~20 s of it)
#
# 1. the device-parametrised tests (`-k cuda`: every test that takes the `device` fixture of
#    tests/conftest.py runs there on CUDA: attention and encoders against PyTorch's kernel and the authors'
#    graph, chunked CE against autograd in float32 and bf16, ranks and top K over item blocks against whole
#    rows, and the whole job on CUDA in float32 and bf16); output in $OUT/pytest_cuda.txt;
# 2. benchmarks/gpu/step_profile.py on S3-Rec Beauty: $OUT/step_profile.json, profile_cpu.txt, profile_cuda.txt.
# Needs .gpu/carry from benchmarks/gpu/prepare.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/checks-out}"
PY="${PY:-python3}"
CARRY="$PWD/.gpu/carry"
mkdir -p "$OUT"
rm -rf /tmp/site && tar -xJf "$CARRY/site.tar.xz" -C /tmp || { echo "could not unpack site"; exit 2; }
"$PY" -c "import faiss" >/dev/null 2>&1 || STUB="$CARRY/stub:"
export PYTHONPATH="/tmp/site:${STUB:-}$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
echo "== tests $(date -u +%T)"
timeout "${TEST_SECONDS:-200}" "$PY" -m pytest -p no:cacheprovider -q -rfE -k cuda tests/test_api.py \
  tests/models/test_attention.py tests/models/test_losses_chunked.py tests/evaluation/test_evaluator.py \
  > "$OUT/pytest_cuda.txt" 2>&1
echo "pytest rc=$?"; tail -n 25 "$OUT/pytest_cuda.txt"
[ -z "${TESTS_ONLY:-}" ] || exit 0  # TESTS_ONLY=1: the tests alone (e.g. before run_peers.sh in the same call)
echo "== profile $(date -u +%T)"
timeout "${PROFILE_SECONDS:-200}" "$PY" benchmarks/gpu/step_profile.py \
  --interactions "$CARRY/peerdata/s3rec-beauty/interactions.csv" --out "$OUT" 2> "$OUT/logs.txt" | tail -n 1
echo "profile rc=$?"; tail -n 5 "$OUT/logs.txt"
head -n 30 "$OUT/profile_cuda.txt" 2>/dev/null | cut -c1-200
echo "== done $(date -u +%T)"
