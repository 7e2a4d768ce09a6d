#!/usr/bin/env bash
# One command that checks a GPU machine (docs/gpu.md): bash scripts/gpu_check.sh [--out gpu_check.md] [...]
# The logic is scripts/gpu_check.py. Python: $PYTHON, else python3. Packages the image lacks (hydra-core, omegaconf,
# antlr4-python3-runtime) are installed from wheels in .whl/ into $NASFLAT_SITE (default $TMPDIR/nasflat-site) when
# they cannot be imported; the script exits 3 naming what is still missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import hydra, omegaconf' 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  SITE="${NASFLAT_SITE:-${TMPDIR:-/tmp}/nasflat-site}"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$PY" scripts/gpu_check.py "$@"
