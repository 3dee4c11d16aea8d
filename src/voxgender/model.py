"""The user-facing model: audio in, per-frame posteriors and file-level decisions out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence, get_args

import numpy as np

from voxgender.core.aggregate import AGGREGATIONS, CASCADE_MARGIN, SPEECH_ONLY, Aggregation, aggregate, mean_log_odds, mean_log_posterior
from voxgender.core.calibration import Calibration
from voxgender.core.features import FeatureConfig, extract
from voxgender.core.networks import FrameNetwork, combine_members
from voxgender.core.speaker_encoder import EncoderProbe, SpeakerEncoder, unit_mean
from voxgender.core.vad import VadState, frame_flags, shared_vad, speech_probabilities, speech_seconds, speech_until
from voxgender.errors import ModelError
from voxgender.io.audio import SAMPLE_RATE, AudioBlock, Source, load_audio, read_blocks, source_name, validate
from voxgender.io.model_dir import bundled_model_dir, load_encoder, load_model_dir
from voxgender.runtime import ordered_map, prefetched

DEFAULT_WINDOW_S = 8.0
LONG_BLOCK_S = 128.0  # a recording longer than this is decoded and scored block by block, in the memory of a few blocks
BLOCK_THREADS = 2  # blocks of one long recording scored at once, while the next ones are decoded
MIN_SPEECH_S = 0.5  # with less speech than this (the shortest segment `segment` reports) a file is answered "none"
BATCH_WINDOWS = 128  # windows of one length run through the network as one batch
BLOCK_ENCODER_WINDOWS = 4  # speaker-encoder windows heard in each block of a long recording
SpeechCheck = Literal["gate", "full", "off"]
SPEECH_CHECKS: tuple[str, ...] = get_args(SpeechCheck)


@dataclass(frozen=True)
class Prediction:
    """A file-level decision. ``confidence`` is the probability of the chosen label; the label is
    ``unknown`` when that falls below the minimum confidence asked for, and ``none`` (without
    p_female) when silero-vad hears less than ``MIN_SPEECH_S`` of speech. ``speech_s``, the
    seconds of speech silero-vad heard, is given by the full speech check, and by the gate only for
    a file answered ``none`` (the gate stops listening once it has heard ``MIN_SPEECH_S``); None
    when the check was skipped."""

    path: str
    label: str
    p_female: float | None
    confidence: float | None
    duration_s: float
    speech_s: float | None = None

    @classmethod
    def from_p_female(cls, path: str, p_female: float, duration_s: float, min_confidence: float = 0.0,
                      speech_s: float | None = None) -> "Prediction":
        speech = None if speech_s is None else round(speech_s, 3)
        if speech_s is not None and speech_s < MIN_SPEECH_S:
            return cls(path, "none", None, None, round(duration_s, 3), speech)
        confidence = max(p_female, 1 - p_female)
        label = "unknown" if confidence < min_confidence else "female" if p_female >= 0.5 else "male"
        return cls(path, label, round(p_female, 4), round(confidence, 4), round(duration_s, 3), speech)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InferenceConfig:
    """How a model's frames become decisions: the ``inference`` of its config.json, checked.

    ``window_s``: the recurrent state starts afresh every this many seconds; ``aggregation``: how
    frames become a file's p_female; ``cascade_margin``: an ensemble's other members hear only files
    whose first member's mean log-odds lie within it (None: every member on every file);
    ``calibration``: Platt scaling of a file's p_female, or None.
    """

    window_s: float = DEFAULT_WINDOW_S
    aggregation: Aggregation = "mean_log"
    cascade_margin: float | None = CASCADE_MARGIN
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"inference window_s must be positive, not {self.window_s}")
        if self.aggregation not in (*AGGREGATIONS, SPEECH_ONLY):
            raise ValueError(f"inference aggregation must be one of {', '.join((*AGGREGATIONS, SPEECH_ONLY))}, not {self.aggregation!r}")
        if self.cascade_margin is not None and self.cascade_margin < 0:
            raise ValueError(f"inference cascade_margin cannot be negative, not {self.cascade_margin}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InferenceConfig":
        """From a config's ``inference`` (settings it does not name, such as the calibration check, ignored)."""
        return cls(float(data.get("window_s", DEFAULT_WINDOW_S)), data.get("aggregation", "mean_log"),
                   data.get("cascade_margin", CASCADE_MARGIN), Calibration.from_dict(data.get("calibration")))


class Model:
    """A trained gender recogniser with its own feature pipeline.

    >>> model = load_model()                # the bundled model
    >>> model.predict("talk.wav").label
    """

    def __init__(self, network: FrameNetwork, features: FeatureConfig, config: dict[str, Any] | None = None) -> None:
        self.network = network
        self.features = features
        self.config = config or {}
        inference = InferenceConfig.from_dict(self.config.get("inference", {}))
        self.window_s: float = inference.window_s
        self.aggregation: Aggregation = inference.aggregation
        self.cascade_margin: float | None = inference.cascade_margin  # None: every member on every clip
        self.calibration: Calibration | None = inference.calibration
        self.min_confidence: float = 0.0  # below it a file's label is "unknown"
        self.speech_check: SpeechCheck = "gate"  # silero-vad listens for speech: see load_model
        self.encoder: tuple[SpeakerEncoder, EncoderProbe] | None = None  # a second opinion on files: see load_model

    @property
    def window_frames(self) -> int:
        return max(1, int(round(self.window_s * 1000 / self.features.hop_ms)))

    # -- core: arrays in, arrays out -------------------------------------------------------
    def posteriors(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-frame log-posteriors (frames, 2) for each 16 kHz waveform.

        Each waveform is cut into windows of ``window_s`` (the recurrent state starts afresh in
        each), and all windows of all inputs run as padded batches.
        """
        return self.feature_log_posteriors([self.features_of(a) for a in audios])

    def features_of(self, audio: np.ndarray) -> np.ndarray:
        """Feature frames (frames, dim) of one 16 kHz waveform."""
        return extract(audio, self.features)

    def feature_log_posteriors(self, feats: Sequence[np.ndarray], primers: Sequence[int] | None = None,
                               network: FrameNetwork | None = None) -> list[np.ndarray]:
        """Per-frame log-posteriors (frames, 2) of feature sequences, cut into windows of
        ``window_frames`` from each sequence's start and run in batches of windows of one length
        (no padding, so a bidirectional network sees each window exactly as it is).

        ``primers[i]`` leading frames of ``feats[i]`` only prime the network for its first window
        (its state and causal normalisation): they get no output and do not count in the window.
        ``network`` runs instead of the model's own (say, one member of its ensemble).
        """
        network = network if network is not None else self.network
        primers = primers if primers is not None else [0] * len(feats)
        pieces: list[tuple[int, int, int, np.ndarray]] = []  # (input index, start frame, primer, window)
        for i, (f, primer) in enumerate(zip(feats, primers)):
            for start in range(0, max(1, f.shape[0] - primer), self.window_frames):
                lead = primer if start == 0 else 0
                window = f[primer + start - lead:primer + start + self.window_frames]
                if window.shape[0] > lead:
                    pieces.append((i, start, lead, window))
        out = [np.zeros((f.shape[0] - primer, 2), dtype=np.float32) for f, primer in zip(feats, primers)]
        by_length: dict[int, list[tuple[int, int, int, np.ndarray]]] = {}
        for piece in pieces:
            by_length.setdefault(piece[3].shape[0], []).append(piece)
        for same_length in by_length.values():
            for b in range(0, len(same_length), BATCH_WINDOWS):
                batch = same_length[b:b + BATCH_WINDOWS]
                logp, _ = network(np.stack([p[3] for p in batch]))
                for (i, start, lead, window), lp in zip(batch, logp):
                    out[i][start:start + window.shape[0] - lead] = lp[lead:]
        return out

    def p_female_of_arrays(self, audios: Sequence[np.ndarray], aggregation: Aggregation | None = None,
                           calibrated: bool = True, vad_probs: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """File-level p_female of each waveform, calibrated (``calibrate``) unless ``calibrated`` is False.

        ``speech_mean_log`` averages only the frames silero-vad calls speech (as a stream does),
        falling back to every frame when it finds none; it costs a VAD pass over each input, unless
        its chunks' probabilities (``speech_probabilities``) are given as ``vad_probs``.

        Under ``mean_log``, an ensemble with a ``cascade_margin`` runs its first member on every
        input and the others only where the first member is unsure (see ``_cascade``).
        """
        method = aggregation or self.aggregation
        feats = [self.features_of(a) for a in audios]
        if method == "mean_log" and len(self.network.members) > 1 and self.cascade_margin is not None:
            log_posts = self._cascade(feats)
        else:
            log_posts = self.feature_log_posteriors(feats)
        if method == SPEECH_ONLY:
            probs = vad_probs if vad_probs is not None else [speech_probabilities(a) for a in audios]
            masks = [frame_flags(p, len(lp), self.features) for p, lp in zip(probs, log_posts)]
            log_posts = [lp[m] if m.any() else lp for lp, m in zip(log_posts, masks)]
        p_female = np.array([aggregate(lp, "mean_log" if method == SPEECH_ONLY else method) for lp in log_posts])
        embeddings = [self.encoder[0].embed(a) for a in audios] if self._fuses(method) else None
        return self._file_p_female(p_female, method, embeddings, calibrated)

    def _fuses(self, method: Aggregation) -> bool:
        """Whether files' decisions hear the speaker encoder: when it is loaded, under the mean-log aggregations."""
        return self.encoder is not None and method != "majority"

    def _file_p_female(self, p_female: np.ndarray, method: Aggregation, embeddings: Sequence[np.ndarray] | None,
                       calibrated: bool = True) -> np.ndarray:
        """Files' p_female from the network's aggregates: fused with the speaker encoder's probe on
        their ``embeddings`` when it is in use (``_fuses``), calibrated unless asked not."""
        if self.encoder is not None and embeddings is not None:
            return self.encoder[1].fused(p_female, np.array(embeddings), calibrated)
        return self.calibrate(p_female, method) if calibrated else p_female

    def _open_input(self, source: Source, name: str, aggregation: Aggregation | None = None) -> np.ndarray | Iterator[AudioBlock]:
        """A short recording's whole validated audio, or a long one's blocks (``p_female_of_blocks``).
        ``speech_mean_log`` needs the whole recording at once, however long. Raises AudioError."""
        if (aggregation or self.aggregation) == SPEECH_ONLY:
            return load_audio(source, name=name)
        blocks = self._blocks_of(source, LONG_BLOCK_S, name)
        first = next(blocks)
        return validate(first.audio, name) if first.last else chain([first], blocks)

    def _blocks_of(self, source: Source, block_s: float, name: str | None = None,
                  max_duration_s: float | None = None) -> Iterator[AudioBlock]:
        """``source`` decoded in blocks of whole network windows (about ``block_s`` seconds each),
        with the context the features need on each side, for :meth:`p_female_of_blocks`."""
        hop, unit = self.features.hop_length, self.window_frames * self.features.hop_length
        context = self.features.lookahead_frames * hop
        block = unit * max(1, round(block_s * SAMPLE_RATE / unit))
        return read_blocks(source, block, context, self.features.win_length - hop + context, name=name,
                           max_duration_s=max_duration_s)

    def _p_female_of_blocks(self, blocks: Iterable[AudioBlock],
                           aggregation: Aggregation | None = None) -> tuple[float, float, float | None]:
        """Calibrated p_female, duration (s) and speech seconds (``_SpeechCounter.seconds``) of a
        recording of any length from its ``blocks_of``: memory stays that of a few blocks, scored on
        ``BLOCK_THREADS`` threads while the next are decoded (and heard by silero-vad). The same as
        the whole recording at once for ``mean_log`` and ``majority``, but an ensemble runs every
        member (no cascade)."""
        method = aggregation or self.aggregation
        if method == SPEECH_ONLY:
            raise ValueError("speech_mean_log needs the whole recording: decode it with load_audio")
        speech = _SpeechCounter(self.speech_check) if self.speech_check != "off" else None
        heard = speech.hear(prefetched(blocks, 2)) if speech is not None else blocks  # decoding, VAD and scoring overlap
        log_sum, female_frames, frames, samples, windows = np.zeros(2), 0, 0, 0, []
        for block_sum, block_female, block_frames, end, block_windows in ordered_map(
                self._block_sums, heard, BLOCK_THREADS, 2 * BLOCK_THREADS):
            log_sum += block_sum
            female_frames += block_female
            frames += block_frames
            samples = end
            windows.append(block_windows)
        if method == "majority":
            p_female = female_frames / frames if frames else 0.5
        else:
            p_female = mean_log_posterior((log_sum / max(frames, 1))[None, :]) if frames else 0.5
        embedding = [unit_mean(np.concatenate(windows))] if self._fuses(method) else None
        return (float(self._file_p_female(np.array([p_female]), method, embedding)[0]), samples / SAMPLE_RATE,
                speech.seconds if speech is not None else None)

    def _block_sums(self, block: AudioBlock) -> tuple[np.ndarray, int, int, int, np.ndarray | None]:
        """A block's summed frame log-posteriors, female-leaning frames, frames, the sample it ends at,
        and its speaker-encoder window embeddings (None without the encoder)."""
        hop = self.features.hop_length
        first = block.lead // hop
        feats = self.features_of(block.audio)[first:None if block.last else first + block.size // hop]
        log_post = self.feature_log_posteriors([feats])[0]
        windows = self.encoder[0].window_embeddings(block.own, BLOCK_ENCODER_WINDOWS) if self.encoder is not None else None
        return (log_post.sum(axis=0, dtype=np.float64), int((log_post[:, 0] > log_post[:, 1]).sum()), len(log_post),
                block.start + block.size, windows)

    def calibrate(self, p_female: np.ndarray, aggregation: Aggregation | None = None) -> np.ndarray:
        """Calibrated p_female of a mean-log-posterior aggregation (``mean_log``, ``speech_mean_log``)
        by the model's ``calibration``; other aggregations, or a model without one, unchanged."""
        if self.calibration is None or (aggregation or self.aggregation) == "majority":
            return np.asarray(p_female, dtype=float)
        return self.calibration(p_female)

    def _prediction(self, name: str, p_female: float, duration_s: float, speech_s: float | None = None) -> Prediction:
        """The decision on a file of calibrated ``p_female`` (and ``speech_s`` heard, if checked),
        with the model's ``min_confidence``."""
        return Prediction.from_p_female(name, float(p_female), duration_s, self.min_confidence, speech_s)

    def _cascade(self, feats: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Frame log-posteriors: the first member's where its mean log-odds exceed
        ``cascade_margin`` in size, else the whole ensemble's.

        The ensemble's frame log-odds are the mean of its members' (``combine_members``, the rule
        GenderEnsemble runs by, applied here to the members' outputs already computed), so a file's
        mean_log decision can change only if the other members lean the other way by more than the
        first member's margin: on the validation speakers and every LOCO corpus, none did.
        """
        first, *others = self.network.members
        log_posts = self.feature_log_posteriors(feats, network=first)
        unsure = [i for i, lp in enumerate(log_posts) if abs(mean_log_odds(lp)) <= self.cascade_margin]
        if unsure:
            rest = [self.feature_log_posteriors([feats[i] for i in unsure], network=member) for member in others]
            for k, i in enumerate(unsure):
                log_posts[i] = combine_members([log_posts[i], *(lp[k] for lp in rest)])
        return log_posts

    # -- decisions on files and arrays ---------------------------------------------------------
    def predict(self, source: Source | np.ndarray | Sequence[Source | np.ndarray], name: str | None = None,
                aggregation: Aggregation | None = None) -> Prediction | list[Prediction]:
        """The decision on one input, or a list of decisions on a list of inputs: each a path, bytes,
        a file object or 16 kHz mono float32 audio; ``name`` labels a single input's prediction.
        Raises AudioError on an input it cannot use."""
        if isinstance(source, (list, tuple)):
            return [self.predict(one, aggregation=aggregation) for one in source]
        if isinstance(source, np.ndarray):
            return self._predict_arrays([source], [name or "<array>"], aggregation)[0]
        label = source_name(source, name)
        audio = self._open_input(source, label, aggregation)
        if isinstance(audio, np.ndarray):
            return self._predict_arrays([audio], [label], aggregation)[0]
        return self._prediction(label, *self._p_female_of_blocks(audio, aggregation))

    def _predict_arrays(
        self, audios: Sequence[np.ndarray], names: Sequence[str] | None = None, aggregation: Aggregation | None = None
    ) -> list[Prediction]:
        """Decisions for several waveforms, batched; with the speech check, silero-vad hears each
        (``none`` where it hears less than ``MIN_SPEECH_S``), and ``speech_mean_log`` reuses what it
        heard (so it hears every file whole, even under the gate)."""
        names = names or [f"<array {i}>" for i in range(len(audios))]
        whole = self.speech_check == "full" or (self.speech_check == "gate" and (aggregation or self.aggregation) == SPEECH_ONLY)
        probs = [speech_probabilities(a) for a in audios] if whole else None
        ps = self.p_female_of_arrays(audios, aggregation, vad_probs=probs)
        if probs is not None:
            heard = [speech_seconds(p) for p in probs]
        else:  # the gate's own pass (or none, when the check is off)
            heard = [speech_until(a, MIN_SPEECH_S)[0] if self.speech_check == "gate" else 0.0 for a in audios]
        speech = [_reported_speech(self.speech_check, s) for s in heard]
        return [self._prediction(n, p, len(a) / SAMPLE_RATE, s) for n, a, p, s in zip(names, audios, ps, speech)]


def load_model(path: str | Path | None = None, all_members: bool = False, min_confidence: float = 0.0,
               speech_check: SpeechCheck = "gate", encoder: bool = False) -> Model:
    """Load a model directory, or the bundled pretrained model when ``path`` is None.
    ``all_members``: an ensemble runs every member on every input (no cascade).
    ``min_confidence``: files whose calibrated confidence falls below it are labelled ``unknown``.
    ``speech_check``: how silero-vad listens for speech, so that a file with less than
    ``MIN_SPEECH_S`` of it (music, silence) is answered ``none``: ``"gate"`` stops listening once it
    has heard that much (the same labels at little cost); ``"full"`` hears every file to its end
    and reports its seconds of speech (``speech_s``); ``"off"`` skips it, for inputs known to hold speech.
    ``encoder``: files' decisions also hear the model's speaker encoder (``voxgender add-encoder``),
    its probe's log-odds added to the network's: truer on speech unlike the training data, slower."""
    if speech_check not in SPEECH_CHECKS:
        raise ValueError(f"speech_check must be one of {', '.join(SPEECH_CHECKS)}, not {speech_check!r}")
    if not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must be in [0, 1], not {min_confidence}")
    source = path if path is not None else bundled_model_dir()
    network, features, config = load_model_dir(source)
    try:
        model = Model(network, features, config)
    except ValueError as err:
        raise ModelError(f"{source}: {err}") from None
    if all_members:
        model.cascade_margin = None
    model.min_confidence = min_confidence
    model.speech_check = speech_check
    if encoder:
        model.encoder = load_encoder(source, config)
    return model


def _reported_speech(check: SpeechCheck, heard_s: float) -> float | None:
    """The ``speech_s`` a check reports of the speech it heard: all of it (full); under the gate,
    only a file's without enough speech (heard whole), None once it stopped listening; None when off."""
    if check == "off" or (check == "gate" and heard_s >= MIN_SPEECH_S):
        return None
    return heard_s


class _SpeechCounter:
    """Seconds of speech that silero-vad hears in a recording's blocks, as they go by in order; under
    the gate, no further once it has heard ``MIN_SPEECH_S`` (``seconds`` is then None)."""

    def __init__(self, check: SpeechCheck) -> None:
        self.check, self.heard = check, 0.0

    @property
    def seconds(self) -> float | None:
        return _reported_speech(self.check, self.heard)

    def hear(self, blocks: Iterable[AudioBlock]) -> Iterator[AudioBlock]:
        state: VadState | None = None
        for block in blocks:
            audio = block.own
            if self.check == "full":
                probs, state = shared_vad().probabilities(audio, state)
                self.heard += speech_seconds(probs)
            elif self.heard < MIN_SPEECH_S:
                heard, state = speech_until(audio, MIN_SPEECH_S - self.heard, state)
                self.heard += heard
            yield block
