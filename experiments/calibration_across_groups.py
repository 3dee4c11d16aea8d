"""Does a Platt scaling fitted on some corpora make p_female truer on others? For each
leave-one-group-out panel (``benchmarks/group_out.py``'s scores.csv, full clips, raw p_female of
models that never trained on the clip's group): fit on three groups, score the fourth.

    python experiments/calibration_across_groups.py runs/logo/panel/scores.csv [more ...]
"""

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from group_out import GROUPS  # noqa: E402

from voxgender.calibrate import log_loss  # noqa: E402
from voxgender.core.calibration import expected_calibration_error, fit_calibration  # noqa: E402

for run in sys.argv[1:]:
    rows = [r for r in csv.DictReader(open(run)) if r["condition"] == "full"]
    p = np.array([float(r["p_female"]) for r in rows])
    female = np.array([r["gender"] == "female" for r in rows])
    group = np.array([next(g for g, corpora in GROUPS.items() if r["corpus"] in corpora) for r in rows])
    fitted = p.copy()
    for g in GROUPS:
        fit = fit_calibration(p[group != g], female[group != g])
        fitted[group == g] = fit(p[group == g])
        print(f"  {g}: fitted on the others scale {fit.scale:.2f} bias {fit.bias:+.2f}")
    print(f"{run}: uncalibrated ECE {expected_calibration_error(p, female):.4f} log-loss {log_loss(p, female):.4f}; "
          f"fitted on the other groups ECE {expected_calibration_error(fitted, female):.4f} log-loss {log_loss(fitted, female):.4f}")
