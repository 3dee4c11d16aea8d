"""Every measured figure of the bundled model in one Markdown table, from the benchmarks' result
files (accuracy_benchmark.py all, speed_benchmark.py, peers_benchmark.py, robustness_benchmark.py), for the README and the
model card (`voxgender card --figures benchmarks/results/figures.md`). A figure whose benchmark has
not run is left out, never filled in.

    python benchmarks/figures.py        # -> benchmarks/results/figures.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voxgender.io.model_dir import bundled_model_dir

RESULTS = Path(__file__).resolve().parent / "results"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def target_rows(accuracy: dict | None, speed: dict | None) -> list[str]:
    rows = []
    pooled = (accuracy or {}).get("pooled", {})
    if "test" in pooled:
        lengths = pooled["test"]["by_length"]
        clean = pooled.get("test_unflagged", {}).get("by_length", {})
        for key, name, goal in (("full", "full clips", 0.98), ("1.0", "1 s crops", 0.95), ("0.5", "0.5 s crops", 0.90)):
            uar = lengths[key]["uar"]
            beside = f"{clean[key]['uar']:.3f}" if key in clean else "-"
            rows.append(f"| pooled test speakers, {name} | UAR ≥ {goal:.2f} | {uar:.3f} | {beside} | "
                        f"{_num(pooled.get('label_ceiling') if key == 'full' else None)} | "  # full clips only
                        f"{'yes' if uar >= goal else 'no'} |")
    loco = (accuracy or {}).get("loco")
    if loco:
        uars = [r["adults"]["overall"]["uar"] for r in loco.values()]
        clean_uars = [r.get("adults_unflagged", r["adults"])["overall"]["uar"] for r in loco.values()]
        mean, clean_mean = sum(uars) / len(uars), sum(clean_uars) / len(clean_uars)
        ceilings = [r.get("label_ceiling") for r in loco.values()]
        ceiling = None if None in ceilings else sum(ceilings) / len(ceilings)
        rows.append(f"| leave-one-corpus-out, mean of {len(uars)} corpora | UAR ≥ 0.95 | {mean:.3f} | {clean_mean:.3f} | "
                    f"{_num(ceiling)} | {'yes' if mean >= 0.95 else 'no'} |")
        if all("adults_test" in r for r in loco.values()):
            tested = [r["adults_test"]["overall"]["uar"] for r in loco.values()]
            rows.append(f"| the same, test speakers only (recipes are compared on the others) | | "
                        f"{sum(tested) / len(tested):.3f} | | | |")
    if speed:
        xrt, runs = speed["command_x_realtime"], speed.get("command_x_realtime_runs", [])
        spread = f" (median of {len(runs)} runs: {', '.join(f'{x:.0f}×' for x in runs)})" if len(runs) > 1 else ""
        rows.append(f"| `voxgender predict` over {speed['clips']} clips, start-up included ({speed['cpu_count']} cores, "
                    f"load {speed['load_average'][0]:.1f}) | ≥ 1000× real time | {xrt:.0f}×{spread} | | | "
                    f"{'yes' if xrt >= 1000 else 'no'} |")
    weights = bundled_model_dir() / "model.safetensors"
    if weights.is_file():
        size = weights.stat().st_size
        rows.append(f"| model size | ≤ 2 MB | {size / 1000:.0f} kB | | | {'yes' if size <= 2_000_000 else 'no'} |")
    return rows


def peer_rows(peers: dict | None) -> list[str]:
    if not peers:
        return []
    lines = ["", f"Peers on the same {peers['clips']} test clips in the same run (`peers_benchmark.py`, {peers['generated']}):", "",
             "| tool | pooled UAR | female recall | male recall | ×real time (wall) |", "|---|---|---|---|---|"]
    for name, tool in peers["tools"].items():
        m = tool["metrics"]["overall"]
        lines.append(f"| {name} | {m['uar']:.3f} | {m['female_recall']:.3f} | {m['male_recall']:.3f} | "
                     f"{tool['x_realtime_wall']:.0f}× |")
    return lines


def robustness_rows(robustness: dict | None) -> list[str]:
    if not robustness:
        return []
    lines = ["", f"Degraded channels and raised pitch on the {robustness['clips']} test clips (`robustness_benchmark.py`; "
             "synthetic degradations, so optimistic for real channels):", "",
             "| condition | UAR | female recall | male recall |", "|---|---|---|---|"]
    lines += [f"| {name} | {c['uar']:.3f} | {c['female_recall']:.3f} | {c['male_recall']:.3f} |"
              for name, c in robustness["conditions"].items()]
    return lines


def main() -> int:
    accuracy, speed, peers, robustness = (_load(RESULTS / p) for p in (
        "accuracy/results.json", "speed.json", "peers/peers.json", "robustness.json"))
    lines = ["| figure | target | measured | without audit-flagged speakers | label ceiling | met |", "|---|---|---|---|---|---|",
             *target_rows(accuracy, speed), *peer_rows(peers), *robustness_rows(robustness), "",
             "Commands: `python benchmarks/accuracy_benchmark.py all`, `python benchmarks/speed_benchmark.py --clips 3517`, "
             "`benchmarks/.venv-peers/bin/python benchmarks/peers_benchmark.py`, `python benchmarks/robustness_benchmark.py`, "
             "then `python benchmarks/figures.py`. "
             "Audit-flagged speakers: those whose recorded gender contradicts their voice pitch "
             "(`benchmarks/label_audit.py`). Label ceiling: the highest UAR a recogniser that goes by the voice can "
             "reach if the audit is right about them (every other clip right, theirs called by the voice). "
             "Speeds depend on the machine and its load: compare tools within one run."]
    (RESULTS / "figures.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
