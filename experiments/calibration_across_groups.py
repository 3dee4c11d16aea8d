"""Does a Platt scaling fitted on some corpora make p_female truer, or the worst group better, on
others? For each leave-one-group-out panel (``benchmarks/group_out.py``'s scores.csv: raw p_female
of models that never trained on the clip's group), a fit on the full clips of three groups is
applied to every clip of the fourth (full clips, 1-s crops, synthetic arousal).

    python experiments/calibration_across_groups.py runs/logo/panel/scores.csv [more ...]
"""

import csv
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from group_out import GROUPS  # noqa: E402
from panel import group_rows, record_groups, summary  # noqa: E402

from voxgender.calibrate import log_loss  # noqa: E402
from voxgender.core.calibration import fit_calibration  # noqa: E402


def records_of(path: str) -> list[dict]:
    """A panel's scores.csv as panel records (groups rebuilt; TV excerpts need durations, so are left out)."""
    records = []
    for r in csv.DictReader(open(path)):
        clip = SimpleNamespace(corpus=r["corpus"], style=r["style"] or None, duration_s=None, gender=r["gender"])
        records.append({**r, "p_female": float(r["p_female"]), "groups": record_groups(r["condition"], clip)})
    return records


for run in sys.argv[1:]:
    records = records_of(run)
    p = np.array([r["p_female"] for r in records])
    female = np.array([r["gender"] == "female" for r in records])
    full = np.array([r["condition"] == "full" for r in records])
    group = np.array([next(g for g, corpora in GROUPS.items() if r["corpus"] in corpora) for r in records])
    fitted = p.copy()
    for g in GROUPS:
        fit = fit_calibration(p[(group != g) & full], female[(group != g) & full])
        fitted[group == g] = fit(p[group == g])
        print(f"  {g}: fitted on the others, scale {fit.scale:.2f} bias {fit.bias:+.2f}")
    for name, q in (("uncalibrated", p), ("fitted on the other groups", fitted)):
        scored = [{**r, "p_female": float(x)} for r, x in zip(records, q)]
        s = summary(scored, group_rows(scored))
        print(f"{run}, {name}: worst group {s['worst_group']} {s['worst_score']:.3f}, mean over corpora "
              f"{s['corpus_mean_uar']:.3f}, men under arousal {s['arousal_male_recall']:.3f}, ECE {s['ece']:.4f}, "
              f"log-loss {log_loss(q[full], female[full]):.4f}")
