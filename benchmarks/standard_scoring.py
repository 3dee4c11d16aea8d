"""Segmentation scored as the field scores it: pyannote.metrics' identification and detection error
rates, on annotations built from a benchmark recording's reference (one code per 10-ms frame, as
the builder wrote it) and on the segments a segmenter returned.

The scored region (UEM) is the recording's scored frames; overlapped speech is skipped
(``skip_overlap``), and the collar follows NIST's convention: 0.25 s on each side of every
reference boundary (pyannote.metrics' ``collar=0.5``, which it centres on the boundary). The
benchmark's own frame counts stay beside these as a cross-check.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from broadcast import FEMALE, FRAME_S, MALE, OVERLAP
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as Span
from pyannote.metrics.detection import DetectionErrorRate
from pyannote.metrics.identification import IdentificationErrorRate

from voxgender.core.timeline import Segment

NIST_COLLAR_S = 0.25  # each side of a reference boundary


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) frame ranges where ``mask`` holds."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def reference_annotation(codes: np.ndarray) -> Annotation:
    """Female and male speech of a frame-coded reference; overlapped frames carry both labels."""
    annotation = Annotation()
    for label, codes_of in (("female", (FEMALE, OVERLAP)), ("male", (MALE, OVERLAP))):
        for k, (start, end) in enumerate(runs(np.isin(codes, codes_of))):
            annotation[Span(start * FRAME_S, end * FRAME_S), f"{label}{k}"] = label
    return annotation


def hypothesis_annotation(segments: Sequence[Segment]) -> Annotation:
    """A segmenter's female and male segments (non-speech and other labels left out)."""
    annotation = Annotation()
    for k, s in enumerate(segments):
        if s.label in ("female", "male") and s.end > s.start:
            annotation[Span(s.start, s.end), k] = s.label
    return annotation


def scored_region(scored: np.ndarray) -> Timeline:
    return Timeline([Span(start * FRAME_S, end * FRAME_S) for start, end in runs(scored)])


def components(codes: np.ndarray, scored: np.ndarray, segments: Sequence[Segment]) -> dict[str, dict[str, float]]:
    """One recording's error components in seconds, per collar: pyannote.metrics' identification
    (total, confusion, missed detection, false alarm) and detection (miss, false alarm) components."""
    reference, hypothesis, uem = reference_annotation(codes), hypothesis_annotation(segments), scored_region(scored)
    out = {}
    for collar in (0.0, NIST_COLLAR_S):
        identification = IdentificationErrorRate(collar=2 * collar, skip_overlap=True)
        detection = DetectionErrorRate(collar=2 * collar, skip_overlap=True)
        parts = identification.compute_components(reference, hypothesis, uem=uem)
        detected = detection.compute_components(reference, hypothesis, uem=uem)
        out[f"collar_{collar:g}s"] = {"speech_s": parts["total"], "confusion_s": parts["confusion"],
                                      "missed_s": parts["missed detection"], "false_alarm_s": parts["false alarm"],
                                      "detection_errors_s": detected["miss"] + detected["false alarm"]}
    return out


def standard_rates(recordings: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Summed ``components`` of several recordings as rates in % of reference speech, per collar:
    IER = confusion + missed + false alarm, and the detection error rate (missed + false alarm)."""
    out = {}
    for collar in recordings[0]:
        sums = {key: sum(r[collar][key] for r in recordings) for key in recordings[0][collar]}
        speech = sums["speech_s"] or 1.0
        rates = {key[:-2]: 100 * sums[key] / speech for key in ("confusion_s", "missed_s", "false_alarm_s", "detection_errors_s")}
        out[collar] = {"ier": rates["confusion"] + rates["missed"] + rates["false_alarm"], **rates, "speech_s": sums["speech_s"]}
    return out
