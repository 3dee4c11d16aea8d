#!/usr/bin/env bash
# Build inaSpeechSegmenter's venv (benchmarks/.venv-ina) for segmentation_peers.py, apart from the
# package's .venv (it needs TensorFlow, voxgender needs torch). Usage, from anywhere:
#     bash benchmarks/peers/setup_ina.sh
# Environment: PYTHON (default python3.11), INA_VENV (default benchmarks/.venv-ina).
#
# inaSpeechSegmenter 0.8.0 fetches its Keras models from GitHub on first use; this machine reaches
# only PyPI. Versions up to 0.6.8 ship the same three model files inside their wheel, so they are
# taken from that wheel into $INA_VENV/ina-models, where ina_segment.py reads them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${INA_VENV:-$(dirname "$here")/.venv-ina}"
. "$here/venv.sh"
peer_venv "$VENV"
# Its declared dependencies (tensorflow[and-cuda], onnxruntime-gpu, Pyro4) are for GPUs and its
# other front ends; the Segmenter needs only these.
"$py" -m pip install --quiet tensorflow-cpu==2.21.0 keras==3.15.1 pandas scikit-image soundfile pytextgrid
"$py" -m pip install --quiet --no-deps inaSpeechSegmenter==0.8.0

models="$VENV/ina-models"
if [ ! -f "$models/keras_male_female_cnn.hdf5" ]; then
    tmp="$(mktemp -d)"
    "$py" -m pip download --quiet --no-deps inaSpeechSegmenter==0.6.8 -d "$tmp"
    mkdir -p "$models"
    "$py" - "$tmp"/inaSpeechSegmenter-0.6.8-py3-none-any.whl "$models" <<'PY'
import sys, zipfile
from pathlib import Path
wheel, models = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(".hdf5"):
            (models / Path(name).name).write_bytes(z.read(name))
            print("model", Path(name).name)
PY
    rm -rf "$tmp"
fi
"$py" -c "import inaSpeechSegmenter; print('inaSpeechSegmenter', inaSpeechSegmenter.__version__, 'ready in $VENV')"
