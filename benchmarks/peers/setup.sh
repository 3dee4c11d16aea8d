#!/usr/bin/env bash
# Build the peers' benchmark venv (benchmarks/.venv-peers), separate from the
# package's .venv. Usage, from the repo root or anywhere:
#     bash benchmarks/peers/setup.sh
# Environment: PYTHON (default python3.11), PEERS_VENV (default benchmarks/.venv-peers).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEERS_VENV:-$(dirname "$here")/.venv-peers}"
. "$here/venv.sh"
peer_venv "$VENV"
"$py" -m pip install --quiet --upgrade pip setuptools wheel

echo "installing peers' runtime dependencies (requirements.txt)"
"$py" -m pip install --quiet -r "$here/requirements.txt"

echo "installing voice2gender and pyAudioAnalysis with --no-deps (requirements-nodeps.txt)"
"$py" -m pip install --quiet --no-deps -r "$here/requirements-nodeps.txt"

# Nothing here may pull torch (the machine's pip constraints cap it; the peers
# do not need it at all).
if "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    echo "ERROR: torch got installed into $VENV; the peers must not need it" >&2
    exit 1
fi

echo "checking the peers import and their models are present"
"$py" - <<'PY'
import os
import parselmouth, xgboost, voice2gender
import pyAudioAnalysis
models = os.path.join(os.path.dirname(pyAudioAnalysis.__file__), "data", "models")
for name in ("svm_rbf_speaker_male_female", "svm_rbf_speaker_male_femaleMEANS"):
    path = os.path.join(models, name)
    if not os.path.isfile(path):
        raise SystemExit(f"pyAudioAnalysis model file missing: {path}")
from pyAudioAnalysis import audioTrainTest  # noqa: F401  (pulls hmmlearn, imblearn, plotly, ...)
print("parselmouth", parselmouth.__version__, "| xgboost", xgboost.__version__,
      "| pyAudioAnalysis models in", models)
PY
echo "peers venv ready: $VENV"
