"""Two recipes' leave-one-corpus-out models compared speaker by speaker on the choosing speakers
(inside each held-out corpus, the adults outside the bundled model's pooled test split): the
evidence a recipe choice may use. Prints the speakers whose clip accuracy changes and the totals.

    python benchmarks/compare_loco.py benchmarks/results/accuracy/loco runs/loco_aug15/loco
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from voxgender.model import load_model

from accuracy_benchmark import choosing_parser, corpus_adults, corpus_folders, test_speakers


def speaker_accuracy(model_dir: Path, utterances: list, audios: list[np.ndarray]) -> dict[str, float]:
    """Share of each speaker's clips that ``model_dir`` labels right."""
    p_female = np.asarray(load_model(model_dir).p_female_of_arrays(audios))
    right = (p_female > 0.5) == np.array([u.gender == "female" for u in utterances])
    speakers = np.array([u.speaker for u in utterances])
    return {s: float(right[speakers == s].mean()) for s in sorted(set(speakers))}


def main() -> int:
    parser = choosing_parser(__doc__)
    parser.add_argument("baseline", type=Path, help="folder of LOCO models, one sub-folder per held-out corpus")
    parser.add_argument("candidate", type=Path, help="the same for the recipe to compare")
    args = parser.parse_args()
    held_out = test_speakers(args.model)
    if held_out is None:
        return 0
    counts = {"better": 0, "worse": 0, "same": 0}
    clips = right_base = right_cand = 0.0
    for corpus, folder in corpus_folders().items():
        utterances, audios = corpus_adults(folder, held_out)  # decoded once for both models
        if not utterances:
            continue
        base, cand = (speaker_accuracy(d / corpus, utterances, audios) for d in (args.baseline, args.candidate))
        clips_of = Counter(u.speaker for u in utterances)
        gender_of = {u.speaker: u.gender for u in utterances}
        for speaker, before in base.items():
            n, after = clips_of[speaker], cand[speaker]
            counts["better" if after > before else "worse" if after < before else "same"] += 1
            clips, right_base, right_cand = clips + n, right_base + n * before, right_cand + n * after
            if after != before:
                print(f"{speaker} ({gender_of[speaker]}, {n} clips): {before:.2f} -> {after:.2f}")
    print(f"choosing speakers: {counts['better']} better, {counts['worse']} worse, {counts['same']} the same; "
          f"clips right {right_base:.0f} -> {right_cand:.0f} of {clips:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
