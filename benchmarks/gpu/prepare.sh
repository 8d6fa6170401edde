#!/usr/bin/env bash
# Build what the GPU machine needs and lacks, under .gpu/ (git-ignored: `echo /.gpu/ >> .git/info/exclude`).
#
#   .gpu/whl/            wheels of the packages seqrec imports that the GPU image lacks, at the versions of
#                        .venv (kept here, NOT carried: polars' runtime wheel alone is 54 MB)
#   .gpu/carry/site.tar.xz   those wheels installed for CPython 3.12 / x86-64 into a folder `site/` and
#                        xz-compressed (about 32 MB instead of 57 MB of wheels); unpacked to /tmp/site there
#   .gpu/carry/stub/faiss    a stand-in for faiss (faiss-cpu's wheel is another 19 MB). seqrec now imports
#                        faiss only where a retrieval index is built, loaded or searched, which the GPU
#                        scripts never do; the stub stays as a guard: any use raises AttributeError
#   .gpu/carry/data/ml-1m/   the three ml-1m-head files from ../shared/data (../shared does not travel)
#
# Run from the repository root:  bash benchmarks/gpu/prepare.sh    (the xz step takes a few CPU minutes)
# Then carry [".gpu/carry"] in the device call (see benchmarks/gpu/run_zoo.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude

PIP="${PIP:-.venv/bin/pip}"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# Imported by `import seqrec` / benchmarks.model_zoo and absent from the image (KINDS.md's package list).
# typing_extensions is in the image, but pydantic 2.14 needs >= 4.16 and the image's version is unknown.
NAMES=(polars polars-runtime-32 pydantic pydantic_core annotated-types typing-inspection typing_extensions)

mkdir -p .gpu/whl .gpu/carry/stub/faiss .gpu/carry/data/ml-1m
for name in "${NAMES[@]}"; do
  version=$("$PIP" show "$name" 2>/dev/null | awk '/^Version:/{print $2}')
  [ -n "$version" ] || { echo "prepare: $name is not installed in .venv" >&2; exit 1; }
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d .gpu/whl "$name==$version"
done
# one version of each package (two stop the install)
dups=$(ls .gpu/whl/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "prepare: several versions of: $dups (delete the old wheels)" >&2; exit 1; }

rm -rf .gpu/build/site && mkdir -p .gpu/build
python3 -m pip install -q --no-deps --no-index --no-compile --only-binary=:all: --python-version 3.12 \
  --implementation cp "${PLATFORMS[@]}" --target .gpu/build/site .gpu/whl/*.whl
# polars' runtime is not stripped: its symbol tables are 40 of its 177 MB (the dynamic symbols stay)
strip --strip-unneeded .gpu/build/site/_polars_runtime_32/*.so
tar -C .gpu/build -cf - site | xz -T"${XZ_THREADS:-0}" -9 > .gpu/carry/site.tar.xz.tmp
mv .gpu/carry/site.tar.xz.tmp .gpu/carry/site.tar.xz

cat > .gpu/carry/stub/faiss/__init__.py <<'PY'
"""Stand-in for faiss on the GPU machine, which lacks faiss-cpu (its wheel is too large to carry).

`import seqrec` imports faiss (seqrec.serving.index); training and evaluation never use it. Any attribute
access raises AttributeError, so a use of the retrieval index fails loudly instead of silently.
"""

__version__ = "0+stub"


def __getattr__(name: str) -> object:
    raise AttributeError(f"faiss.{name}: faiss is a stub on this machine (benchmarks/gpu/prepare.sh)")
PY

SRC="${SEQREC_SHARED_DATA:-../shared/data}"
for f in ratings-head.dat.gz movies.dat.gz users.dat.gz; do
  cp "$SRC/ml-1m/$f" .gpu/carry/data/ml-1m/$f
done
# the transfer benchmarks' targets (benchmarks/transfer.py)
for f in wikipedia/wikipedia.csv.gz lastfm-hetrec2011/user_artists.dat.gz lastfm-hetrec2011/user_taggedartists.dat.gz \
         lastfm-hetrec2011/artists.dat.gz lastfm-hetrec2011/tags.dat.gz; do
  mkdir -p ".gpu/carry/data/$(dirname "$f")" && cp "$SRC/$f" ".gpu/carry/data/$f"
done
chmod -R u+w .gpu/carry/data
# seqrec's side of the peers table on the GPU (benchmarks/peers/export.py writes it)
mkdir -p .gpu/carry/peerdata/s3rec-beauty
cp benchmarks/.work/peerdata/s3rec-beauty/{interactions.csv,s3rec-beauty.inter} .gpu/carry/peerdata/s3rec-beauty/
# the peers themselves (benchmarks/gpu/run_peers.sh), on the image's torch / numpy / pandas / scipy: RecBole
# 1.2.1 with the three pure-Python packages the image lacks, and RecTools 0.19 with its own (implicit's
# cp312 wheel under its original name; the CPU venv has the pm-implicit fork of the same version; pandas
# 2.3 and its pytz, because RecTools 0.19 needs pandas < 3 and the image has 3)
peer_site() {  # FOLDER WHEEL_DIR REQUIREMENT...
  local folder="$1" wheels="$2"; shift 2
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$wheels" "$@"
  rm -rf "$folder" && python3 -m pip install -q --no-deps --no-index --no-compile --only-binary=:all: \
    --python-version 3.12 --implementation cp "${PLATFORMS[@]}" --target "$folder" "$wheels"/*.whl
}
peer_site .gpu/carry/peers .gpu/peerwhl recbole==1.2.1 colorlog==4.7.2 texttable==1.7.2 \
  thop==0.1.1.post2209072238
peer_site .gpu/build/rectools .gpu/rtwhl rectools==0.19.0 implicit==0.7.3 pytorch-lightning==2.6.6 \
  torchmetrics==1.9.0 lightning-utilities==0.15.3 typeguard==4.6.1 attrs==23.2.0 pandas==2.3.2 pytz==2026.6
tar -C .gpu/build/rectools -cf - . | xz -T"${XZ_THREADS:-0}" -9 > .gpu/carry/rectools.tar.xz
# the sentence vectors of the two text catalogues (the encoder package is too large to carry): run
# `python -m benchmarks.transfer --experiment text-lastfm` here once so that they are in the cache
mkdir -p .gpu/carry/cache/text-vectors
cp "${SEQREC_CACHE_DIR:-$HOME/.cache/seqrec}"/text-vectors/*.safetensors .gpu/carry/cache/text-vectors/
du -sh .gpu/carry .gpu/carry/* | sed 's/^/prepare: /'
