#!/usr/bin/env bash
# The peers table on the lent GPU: seqrec (fp32 and bf16) and RecBole 1.2.1 on CUDA, MODEL (SASRec or
# BERT4Rec) with LOSS (CE or BPR; default SASRec CE) on S3-Rec Beauty with the sizes of
# benchmarks/peers/compare.py, REPEATS runs each, one process at a time. LIBS may add seqrec-fp32-graphs and
# seqrec-bf16-graphs (runtime.cuda_graphs; CE only).
#
#   OUT="$OUT" bash benchmarks/gpu/run_peers.sh        (device call, timeout <= 600; carry the folders it
#   uses: .gpu/carry/{site.tar.xz,stub,peers,peerdata,rectools.tar.xz}, less than the whole .gpu/carry)
#
# Needs .gpu/carry from benchmarks/gpu/prepare.sh plus .gpu/carry/peers (RecBole 1.2.1 and the three small
# pure-Python packages it imports that the GPU image lacks: colorlog, texttable, thop) and
# .gpu/carry/peerdata/s3rec-beauty/{interactions.csv,s3rec-beauty.inter} (benchmarks.peers.export). RecBole
# runs on the image's torch and its numpy / pandas / scipy / scikit-learn. RecTools 0.19 (LIBS="... RecTools")
# needs .gpu/carry/rectools.tar.xz: RecTools and what the image lacks (implicit 0.7.3, pytorch-lightning,
# torchmetrics, lightning-utilities, typeguard, attrs, pandas 2.3 + pytz: benchmarks/gpu/prepare.sh), on
# the image's torch. Every record is one JSON line in
# $OUT/peers_gpu.jsonl, written as soon as it exists (stderr of all runs in $OUT/logs.txt: few files come back); merge with `python -m benchmarks.gpu.merge_peers`.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/peers-out}"
PY="${PY:-python3}"
CARRY="$PWD/.gpu/carry"
REPEATS="${REPEATS:-3}"
FIRST_REPEAT="${FIRST_REPEAT:-0}"  # the first repeat's number, when a later call adds repeats
EPOCHS="${EPOCHS:-3}"
SEQREC_EPOCHS="${SEQREC_EPOCHS:-20}"
RECTOOLS_EPOCHS="${RECTOOLS_EPOCHS:-3}"
LIBS="${LIBS:-seqrec-fp32 seqrec-bf16 RecBole}"
MODEL="${MODEL:-SASRec}"
LOSS="${LOSS:-CE}"
case "$LOSS" in CE) RECTOOLS_LOSS=softmax ;; BPR) RECTOOLS_LOSS=BCE ;; *) echo "LOSS must be CE or BPR"; exit 2 ;; esac
DATA="$CARRY/peerdata/s3rec-beauty"
mkdir -p "$OUT"
rm -rf /tmp/site && tar -xJf "$CARRY/site.tar.xz" -C /tmp || { echo "could not unpack site"; exit 2; }
if [[ " $LIBS " == *" RecTools "* ]]; then
  rm -rf /tmp/rectools && mkdir -p /tmp/rectools && tar -xJf "$CARRY/rectools.tar.xz" -C /tmp/rectools \
    || { echo "could not unpack rectools"; exit 2; }
fi
"$PY" -c "import faiss" >/dev/null 2>&1 || STUB="$CARRY/stub:"
export SEQREC_DATA_MIRROR="$CARRY/data" SEQREC_CACHE_DIR="$CARRY/cache" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
SIZES=(--model "$MODEL" --max-len 50 --hidden 64 --inner 64 --layers 2 --heads 2 --dropout 0.2 --batch-size 256
       --lr 0.001 --threads 2 --seed 42 --eval-every 1)
echo "== run_peers.sh $(date -u +%FT%TZ) $MODEL $LOSS repeats=$REPEATS epochs=$EPOCHS seqrec_epochs=$SEQREC_EPOCHS"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

one() {  # LIB REPEAT: one run, its JSON record (with the library's label and repeat) appended
  local lib="$1" repeat="$2" line rc
  case "$lib" in
    seqrec-*)  # seqrec-fp32, seqrec-bf16, and with CUDA graphs seqrec-fp32-graphs, seqrec-bf16-graphs
      local precision="${lib#seqrec-}" graphs=()
      [[ "$precision" == *-graphs ]] && { precision="${precision%-graphs}"; graphs=(--cuda-graphs); }
      line=$(PYTHONPATH="/tmp/site:${STUB:-}$PWD" timeout 300 "$PY" benchmarks/peers/seqrec_run.py \
        --interactions "$DATA/interactions.csv" --loss "$LOSS" --epochs "$SEQREC_EPOCHS" "${SIZES[@]}" \
        --device cuda --precision "$precision" "${graphs[@]}" 2>> "$OUT/logs.txt" | tail -n 1) ;;
    RecTools)
      line=$(PYTHONPATH="/tmp/rectools:/tmp/site" timeout 400 "$PY" benchmarks/peers/rectools_run.py \
        --interactions "$DATA/interactions.csv" --loss "$RECTOOLS_LOSS" --epochs "$RECTOOLS_EPOCHS" "${SIZES[@]}" \
        --device cuda 2>> "$OUT/logs.txt" | tail -n 1) ;;
    RecBole)
      line=$(PYTHONPATH="$CARRY/peers" timeout 400 "$PY" benchmarks/peers/recbole_run.py \
        --data-dir "$CARRY/peerdata" --dataset s3rec-beauty --loss "$LOSS" --epochs "$EPOCHS" "${SIZES[@]}" \
        --device cuda 2>> "$OUT/logs.txt" | tail -n 1) ;;
  esac
  rc=$?
  echo "$lib $repeat rc=$rc ${line:0:300}"
  if [ "$rc" = 0 ] && [ "${line:0:1}" = "{" ]; then
    "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(label=sys.argv[2], repeat=int(sys.argv[3])); print(json.dumps(r))' \
      "$line" "$lib" "$repeat" >> "$OUT/peers_gpu.jsonl"
  fi
}

for repeat in $(seq "$FIRST_REPEAT" $((FIRST_REPEAT + REPEATS - 1))); do
  for lib in $LIBS; do one "$lib" "$repeat"; done
done
echo "== done $(date -u +%T)"
