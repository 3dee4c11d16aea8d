"""Draw female / male / non-speech timelines as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from voxgender.core.timeline import Segment
from voxgender.errors import import_extra

COLOURS = {"female": "#d95f02", "male": "#1b9e77", "unknown": "#999999", "nonspeech": "#e6e6e6", "overlap": "#7570b3"}


def plot_timelines(tracks: Sequence[tuple[str, Sequence[Segment]]], path: str | Path, title: str = "") -> Path:
    """One row per (name, segments) track, coloured by label, time in seconds or minutes."""
    import_extra("matplotlib", "plot", "a plot").use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    end = max((s.end for _, segments in tracks for s in segments), default=1.0)
    scale, unit = (60.0, "min") if end > 600 else (1.0, "s")
    fig, ax = plt.subplots(figsize=(12, 1.6 + 0.5 * len(tracks)))
    for row, (_, segments) in enumerate(tracks):
        by_label: dict[str, list[tuple[float, float]]] = {}
        for s in segments:
            by_label.setdefault(s.label, []).append((s.start / scale, s.duration / scale))
        for label, spans in by_label.items():
            ax.broken_barh(spans, (row - 0.35, 0.7), facecolors=COLOURS.get(label, "black"))
    ax.set_yticks(range(len(tracks)), [name for name, _ in tracks])
    ax.set_ylim(len(tracks) - 0.5, -0.5)
    ax.set_xlim(0, end / scale)
    ax.set_xlabel(f"time ({unit})")
    labels = sorted({s.label for _, segments in tracks for s in segments}, key=list(COLOURS).index)
    ax.legend(handles=[Patch(color=COLOURS[k], label=k) for k in labels], loc="center left",
              bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_shares(rows: Sequence[tuple[str, float | None, tuple[float, float] | None]], path: str | Path,
                title: str = "female share of speech time") -> Path:
    """One row per (name, female share, its 95% interval): a dot and its interval, 50% marked; the
    last row (the collection, when there are several files) set apart by a line."""
    import_extra("matplotlib", "plot", "a plot").use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * len(rows)))
    for row, (_, share, interval) in enumerate(rows):
        if share is None:
            continue
        low, high = interval or (share, share)
        ax.errorbar(100 * share, row, xerr=[[100 * (share - low)], [100 * (high - share)]], fmt="o",
                    color=COLOURS["female"], ecolor="grey", capsize=3)
    if len(rows) > 1:
        ax.axhline(len(rows) - 1.5, color="black", lw=0.6)
    ax.axvline(50, color="grey", ls=":", lw=0.8)
    ax.set_yticks(range(len(rows)), [name for name, _, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("female share of speech (%), with its 95% interval")
    ax.set_title(title)
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out, write as PNG and close a figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
