"""Would a speaker encoder trained on thousands of speakers fix the cross-corpus errors?

Resemblyzer's GE2E voice encoder (a 3-layer LSTM over 40 power-mel bands, trained for speaker
verification on LibriSpeech train-other-500, VoxCeleb1 and VoxCeleb2: several thousand speakers,
Apache-2.0 weights) never saw a gender label. A logistic-regression probe on its utterance
embeddings, trained on the adults of four corpora, is tested on the fifth, as the leave-one-corpus-out
(LOCO) networks of ``accuracy_benchmark.py loco`` are. The script reports, per left-out corpus:

- clip UAR of the LOCO GRU pair, of the probe, and of their log-odds summed (probe + w · GRU);
- the speakers that each gets wrong on most of their clips, and how many both get wrong;
- segmentation: the broadcasts of ``segmentation_loco.py`` (same builder and seeds), segmented by the
  LOCO pair, and the same segments relabelled by the probe or the fusion, each speech segment
  embedded on its own (boundaries unchanged);
- the encoder's and the GRU pair's ×real time on the clips, in the same run.

The weights come from the Resemblyzer wheel on PyPI (not a dependency of voxgender):

    .venv/bin/pip download resemblyzer==0.1.4 --no-deps -d runs/resemblyzer
    python benchmarks/speaker_encoder_check.py --runs runs/loco_seg \\
        --wheel runs/resemblyzer/Resemblyzer-0.1.4-py3-none-any.whl

The fusion weights are all reported; none was chosen on the test speakers.
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import time
import zipfile
from collections import defaultdict
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_benchmark import corpus_folders  # noqa: E402
from broadcast import Recording, frame_errors, hypothesis_frames, rates, total  # noqa: E402
from segmentation_benchmark import DATA, build, headline, load_pool, pct  # noqa: E402
from segmentation_loco import corpus_broadcasts  # noqa: E402
from split_clips import flagged_speakers  # noqa: E402

from voxgender.io.audio import SAMPLE_RATE, load_audio  # noqa: E402
from voxgender.training.data import Utterance, read_corpus  # noqa: E402
from voxgender.model import load_model  # noqa: E402
from voxgender.io.model_dir import bundled_model_dir, split_speakers  # noqa: E402
from voxgender.io.progress import progress_bar  # noqa: E402
from voxgender.core.timeline import Segment  # noqa: E402
from voxgender.segment import SegmentConfig, Segmenter  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "speaker_encoder"
WEIGHTS_IN_WHEEL = "resemblyzer/pretrained.pt"
N_FFT, HOP, N_MELS = 400, 160, 40  # Resemblyzer's 25 ms window, 10 ms step, 40 bands
PARTIAL, PARTIAL_STEP = 160, 77  # 1.6 s windows, 1.3 per second (Resemblyzer's embed_utterance)
TARGET_DBFS = -30.0  # Resemblyzer raises quieter audio to this level (never lowers it)
FUSION_WEIGHTS = (0.25, 0.5, 1.0)  # w in probe + w * GRU log-odds
PROBE_C = 1.0


# -- the encoder (Resemblyzer's VoiceEncoder, without its librosa and webrtcvad dependencies) ------
# Its power-mel frames matched librosa 0.11's melspectrogram to a relative 3e-7 (checked in a scratch venv).
# Unlike Resemblyzer's preprocess_wav, silences are not cut before embedding a clip.
def slaney_mel_filters(n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa's default mel filters (Slaney scale and area norm), shape (n_mels, n_fft // 2 + 1)."""
    step, log_step = 200.0 / 3, np.log(6.4) / 27  # linear below 1 kHz, logarithmic above

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1e-9) / 1000) / log_step, hz / step)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15, 1000 * np.exp(log_step * (mel - 15)), mel * step)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(0, to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    rising = (fft_hz[None] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - fft_hz[None]) / np.diff(edges)[1:, None]
    filters = np.maximum(0, np.minimum(rising, falling))
    return (filters * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


class SpeakerEncoder(torch.nn.Module):
    """GE2E voice encoder: L2-normalised 256-d embeddings of 1.6 s windows, averaged per utterance."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
        self.register_buffer("mel", torch.from_numpy(slaney_mel_filters()), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.eval()

    @classmethod
    def from_wheel(cls, wheel: Path) -> "SpeakerEncoder":
        with zipfile.ZipFile(wheel) as archive:
            checkpoint = torch.load(io.BytesIO(archive.read(WEIGHTS_IN_WHEEL)), map_location="cpu")
        return cls(checkpoint["model_state"])

    def mel_frames(self, wave: np.ndarray) -> torch.Tensor:
        """Power mel frames (frames, 40) of 16 kHz audio, raised to -30 dBFS if quieter."""
        rms_db = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) + 1e-12)
        gain = max(1.0, 10 ** ((TARGET_DBFS - rms_db) / 20))
        x = torch.from_numpy((wave * gain).astype(np.float32))
        spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="constant", return_complex=True)
        return (self.mel @ spec.abs() ** 2).T

    @torch.inference_mode()
    def embed(self, wave: np.ndarray) -> np.ndarray:
        """The utterance embedding: the mean of its windows' embeddings, renormalised."""
        frames = self.mel_frames(wave)
        if len(frames) < PARTIAL:
            frames = torch.cat([frames, frames.new_zeros(PARTIAL - len(frames), N_MELS)])
        starts = list(range(0, len(frames) - PARTIAL + 1, PARTIAL_STEP))
        if len(frames) - (starts[-1] + PARTIAL) > PARTIAL // 4:
            starts.append(len(frames) - PARTIAL)
        _, (hidden, _) = self.lstm(torch.stack([frames[s:s + PARTIAL] for s in starts]))
        windows = torch.relu(self.linear(hidden[-1]))
        mean = (windows / windows.norm(dim=1, keepdim=True)).mean(0)
        return (mean / mean.norm()).numpy()


# -- clips ----------------------------------------------------------------------------------------
def log_odds_male(p_female: np.ndarray) -> np.ndarray:
    p = np.clip(p_female, 1e-6, 1 - 1e-6)
    return np.log((1 - p) / p)


def variants(probe_score: np.ndarray, gru_score: np.ndarray) -> dict[str, np.ndarray]:
    """Male log-odds of each way of scoring: the GRU pair, the probe, and their fusions."""
    return {"GRU pair": gru_score, "probe": probe_score,
            **{f"fusion w={w:g}": probe_score + w * gru_score for w in FUSION_WEIGHTS}}


def fit_probe(embeddings: np.ndarray, utterances: list[Utterance]) -> LogisticRegression:
    """Male-vs-female logistic regression on utterance embeddings, classes weighted equally."""
    male = np.array([u.gender == "male" for u in utterances])
    return LogisticRegression(C=PROBE_C, max_iter=2000, class_weight="balanced").fit(embeddings, male)


def uar(utterances: list[Utterance], male_score: np.ndarray, keep: np.ndarray) -> float:
    truth = np.array([u.gender == "male" for u in utterances])
    return float(balanced_accuracy_score(truth[keep], male_score[keep] > 0))


def speakers_mostly_wrong(utterances: list[Utterance], male_score: np.ndarray) -> set[str]:
    wrong: dict[str, list[bool]] = defaultdict(list)
    for u, s in zip(utterances, male_score):
        wrong[u.speaker].append((s > 0) != (u.gender == "male"))
    return {speaker for speaker, w in wrong.items() if np.mean(w) > 0.5}


# -- segmentation ---------------------------------------------------------------------------------
def relabelled(segments: list[Segment], male_scores: list[float]) -> list[Segment]:
    """``segments`` with each speech segment's label set by the sign of its score (in order)."""
    scores = iter(male_scores)
    return [s if s.label == "nonspeech" else Segment(s.start, s.end, "male" if next(scores) > 0 else "female")
            for s in segments]


def relabel_counts(recordings: Iterable[Recording], segmenter: Segmenter, encoder: SpeakerEncoder,
                   probe: LogisticRegression) -> dict[str, list[dict[str, float]]]:
    """Frame counts per variant (GRU, probe, fusions) over the headline-condition recordings."""
    counts: dict[str, list[dict[str, float]]] = defaultdict(list)
    for rec in recordings:
        if not headline((rec.background, rec.snr_db)):
            continue
        segments = segmenter.segment_array(rec.audio, name=rec.name).segments
        speech = [s for s in segments if s.label != "nonspeech"]
        embedded = [encoder.embed(rec.audio[int(s.start * SAMPLE_RATE):int(s.end * SAMPLE_RATE)]) for s in speech]
        probe_score = probe.decision_function(np.array(embedded)) if speech else np.zeros(0)
        gru_score = log_odds_male(np.array([s.p_female for s in speech]))
        for name, score in variants(probe_score, gru_score).items():
            hypothesis = segments if name == "GRU pair" else relabelled(segments, list(score))  # the pair: its decoder's labels
            counts[name].append(frame_errors(rec.reference, hypothesis_frames(hypothesis, len(rec.reference)),
                                             rec.scored))
    return counts


# -- report ---------------------------------------------------------------------------------------
def clip_section(per_corpus: dict[str, dict[str, np.ndarray]], utterances: dict[str, list[Utterance]],
                 in_domain: dict[str, float], wrong: dict[str, set[str]], flagged: set[str], test: set[str]) -> list[str]:
    names = list(next(iter(per_corpus.values())))
    lines = ["## Clips: leave one corpus out", "",
             "Clip UAR on each left-out corpus's adults (all, the choosing speakers outside the pooled test split, "
             "and without the audit-flagged speakers). The probe is trained on the other four corpora's adults, "
             "audit-flagged speakers left out as the bundled recipe leaves them out.", "",
             "| scores | " + " | ".join(per_corpus) + " | mean | choosing speakers, mean | unflagged, mean |",
             "|---" * (len(per_corpus) + 4) + "|"]
    for v in names:
        cells, choosing, unflagged = [], [], []
        for corpus, scores in per_corpus.items():
            utts = utterances[corpus]
            everyone = np.ones(len(utts), bool)
            cells.append(uar(utts, scores[v], everyone))
            choosing.append(uar(utts, scores[v], np.array([u.speaker not in test for u in utts])))
            unflagged.append(uar(utts, scores[v], np.array([u.speaker not in flagged for u in utts])))
        lines.append(f"| {v} | " + " | ".join(f"{c:.3f}" for c in cells)
                     + f" | {np.mean(cells):.4f} | {np.mean(choosing):.4f} | {np.mean(unflagged):.4f} |")
    both = wrong["GRU pair"] & wrong["probe"]
    lines += ["", "In-domain, for reference (probe trained on the bundled model's training split, bundled pair's "
              "posteriors, pooled test split): " + ", ".join(f"{k} {v:.4f}" for k, v in in_domain.items()) + ".", "",
              f"Speakers wrong on most of their clips: GRU pair {len(wrong['GRU pair'])}, probe "
              f"{len(wrong['probe'])}, both {len(both)} ({len(both & flagged)} of them audit-flagged), of "
              f"{sum(len({u.speaker for u in utts}) for utts in utterances.values())} adults.", ""]
    return lines


def segmentation_table(groups: dict[str, dict[str, list[dict[str, float]]]], pooled: str | None = None) -> list[str]:
    """Rows of IER, confusion and share error per group and variant (and pooled over the groups)."""
    if pooled:
        merged: dict[str, list[dict[str, float]]] = defaultdict(list)
        for by_variant in groups.values():
            for variant, counts in by_variant.items():
                merged[variant] += counts
        groups = {**groups, pooled: merged}
    lines = ["| recordings | scores | IER | confusion | female-share error |", "|---|---|---|---|---|"]
    for group, by_variant in groups.items():
        for variant, counts in by_variant.items():
            r = rates(total(counts))
            lines.append(f"| {group} | {variant} | {pct(r['ier'])} | {pct(r['confusion'])} | "
                         f"{r['female_share_error_pp']:.2f} pp |")
    return lines + [""]


SEGMENTATION_PREAMBLE = ("Headline conditions (clean, noise and music at 20/10/5 dB). Boundaries are the GRU pair's; only "
                         "the female/male label of each speech segment changes, so missed speech and false alarm are "
                         "the same in every row of a group.")


def embed_clips(encoder: SpeakerEncoder, utterances: dict[str, list[Utterance]], runs: Path
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Per corpus: clip embeddings, the LOCO pair's male log-odds, and both one's seconds (same clips)."""
    embeddings, gru, timing = {}, {}, {"encoder_s": 0.0, "gru_s": 0.0, "audio_s": 0.0}
    for corpus, utts in utterances.items():
        model = load_model(runs / "loco" / corpus, all_members=True)
        rows, p_female = [], []
        for u in progress_bar(utts, description=f"{corpus} clips"):
            wave = load_audio(u.path)
            t = time.perf_counter()
            rows.append(encoder.embed(wave))
            timing["encoder_s"] += time.perf_counter() - t
            t = time.perf_counter()
            p_female.append(model.predict_array(wave).p_female)
            timing["gru_s"] += time.perf_counter() - t
            timing["audio_s"] += len(wave) / SAMPLE_RATE
        embeddings[corpus], gru[corpus] = np.array(rows), log_odds_male(np.array(p_female))
    return embeddings, gru, timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="the --out of `accuracy_benchmark.py loco`")
    parser.add_argument("--wheel", type=Path, required=True, help="Resemblyzer-0.1.4-py3-none-any.whl")
    parser.add_argument("--turns-per-speaker", type=float, default=2.0,
                        help="broadcast recordings per corpus, as segmentation_loco.py sizes them (0: no segmentation)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return 0
    if not args.wheel.is_file():
        parser.error(f"{args.wheel}: no such wheel; fetch it with `pip download resemblyzer==0.1.4 --no-deps -d DIR`")
    torch.set_num_threads(1)
    encoder = SpeakerEncoder.from_wheel(args.wheel)
    flagged = flagged_speakers()
    folders = corpus_folders()
    utterances = {c: [u for u in read_corpus(f) if not u.is_child] for c, f in folders.items()}
    embeddings, gru, timing = embed_clips(encoder, utterances, args.runs)

    def probe_without(speakers: Callable[[Utterance], bool]) -> LogisticRegression:
        """The probe fitted on the unflagged clips whose speaker passes ``speakers``."""
        keep = [(e, u) for c in folders for e, u in zip(embeddings[c], utterances[c])
                if speakers(u) and u.speaker not in flagged]
        return fit_probe(np.array([e for e, _ in keep]), [u for _, u in keep])

    probes = {c: probe_without(lambda u, c=c: u.corpus != c) for c in folders}
    per_corpus = {c: variants(probes[c].decision_function(embeddings[c]), gru[c]) for c in folders}
    wrong = {v: set().union(*(speakers_mostly_wrong(utterances[c], per_corpus[c][v]) for c in folders))
             for v in ("GRU pair", "probe")}

    train, test = (split_speakers(bundled_model_dir(), s) for s in ("train", "test"))
    train_probe = probe_without(lambda u: u.speaker in train)
    bundled = load_model(all_members=True)
    test_clips = [u for c in folders for u in utterances[c] if u.speaker in test]
    test_embeddings = np.array([e for c in folders for e, u in zip(embeddings[c], utterances[c]) if u.speaker in test])
    in_domain = {name: uar(test_clips, score, np.ones(len(test_clips), bool)) for name, score in variants(
        train_probe.decision_function(test_embeddings),
        log_odds_male(np.array([bundled.predict_file(u.path).p_female for u in test_clips]))).items()}

    lines = ["# A speaker encoder's embeddings against the GRU, across corpora", "",
             "`" + " ".join(["python", "benchmarks/speaker_encoder_check.py", *map(shlex.quote, sys.argv[1:])]) + "`",
             "", "Resemblyzer's GE2E voice encoder, trained for speaker verification on several thousand speakers "
             "(LibriSpeech train-other-500, VoxCeleb1 and 2) and never on gender, against the GRU pairs of the "
             "bundled recipe: a logistic-regression probe on its utterance embeddings, alone and with its log-odds "
             "added to the GRU pair's (probe + w · GRU). Across corpora, the probe is trained on four corpora and "
             "tested on the fifth, and the GRU pair is that fold's LOCO pair; in-domain, the probe is trained on the "
             "bundled model's training split and the pair is the bundled model.", "",
             f"Speed on the {timing['audio_s'] / 3600:.2f} h of clips, one thread each, same run: encoder "
             f"{timing['audio_s'] / timing['encoder_s']:.0f}× real time (1.3 windows of 1.6 s per second), LOCO GRU "
             f"pair (both members, features included) {timing['audio_s'] / timing['gru_s']:.0f}×.", ""]
    lines += clip_section(per_corpus, utterances, in_domain, wrong, flagged, test)
    if args.turns_per_speaker > 0:
        loco = {c: relabel_counts(chain.from_iterable(corpus_broadcasts(folder, set(), args.turns_per_speaker, 5.0)),
                                  Segmenter(load_model(args.runs / "loco" / c), SegmentConfig()), encoder, probes[c])
                for c, folder in folders.items()}
        segmenter = Segmenter(load_model(), SegmentConfig())
        pooled = {split: relabel_counts(build(load_pool(bundled_model_dir(), split, False, set()), 8, 5.0),
                                        segmenter, encoder, train_probe) for split in ("val", "test")}
        lines += ["## Segmentation: the LOCO broadcasts relabelled", "",
                  "The broadcasts of `segmentation_loco.py` (same builder and seeds), segmented by each corpus's LOCO "
                  "pair. " + SEGMENTATION_PREAMBLE, "", *segmentation_table(loco, "**all corpora**"),
                  "## Segmentation: the pooled split's broadcasts relabelled", "",
                  "The 8 broadcasts of `segmentation_benchmark.py` of each split (its adults), segmented by the "
                  "bundled model; the probe is trained on the training split, and w is chosen on validation. "
                  + SEGMENTATION_PREAMBLE, "", *segmentation_table(pooled)]
        ier = {split: {v: rates(total(c))["ier"] for v, c in by_variant.items()} for split, by_variant in pooled.items()}
        chosen = min((v for v in ier["val"] if v.startswith("fusion")), key=ier["val"].get)
        lines += [f"Validation picks {chosen} (IER {pct(ier['val'][chosen])} against the GRU pair's "
                  f"{pct(ier['val']['GRU pair'])}); on the test broadcasts it gives {pct(ier['test'][chosen])} against "
                  f"{pct(ier['test']['GRU pair'])}.", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
