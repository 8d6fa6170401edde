#!/usr/bin/env bash
# Install the peer libraries for side-by-side benchmarks, each in its own virtual environment, on the
# same torch CPU wheel as seqrec (never let pip change torch). Usage: benchmarks/peers/install.sh [WORKDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$here/benchmarks/.work}"
mkdir -p "$work"
if [ ! -x "$work/venv-recbole/bin/python" ]; then
  python3 -m venv "$work/venv-recbole"
  "$work/venv-recbole/bin/pip" install -q -c "$here/constraints.txt" torch==2.13.0
  "$work/venv-recbole/bin/pip" install -q -c "$here/constraints.txt" recbole==1.2.1
fi
if [ ! -x "$work/venv-rectools/bin/python" ]; then
  python3 -m venv "$work/venv-rectools"
  "$work/venv-rectools/bin/pip" install -q -c "$here/constraints.txt" torch==2.13.0
  "$work/venv-rectools/bin/pip" install -q -c "$here/constraints.txt" "rectools[torch]==0.19.0"
fi
"$work/venv-recbole/bin/python" -c "import recbole, torch; print('recbole', recbole.__version__, 'torch', torch.__version__)"
"$work/venv-rectools/bin/python" -c "import rectools, torch; print('rectools', rectools.__version__, 'torch', torch.__version__)"
