"""Long recordings: a female / male / non-speech timeline and speaking-time statistics.

1. silero-vad gives a speech probability per 32 ms chunk, as one stream carried from block to
   block (:meth:`voxgender.core.vad.SileroVad.probabilities`);
2. the RNN gives gender log-posteriors per feature frame (windows of the model's ``window_s``,
   restarting at speech onsets after a pause, optionally run from ``preroll_s`` before them; the
   evidence of its first ``warmup_s`` after each restart, when it is least sure, counts less);
   with the model's speaker encoder loaded (``segment --encoder``), its probe's log-odds on 1.6-s
   windows every ``encoder_step_s`` join each frame's at ``encoder_weight``;
3. a three-label explicit-duration HMM (:mod:`voxgender.core.hmm`) turns both into segments, with a
   minimum duration per label and penalties for label changes;
4. a speech segment followed by a pause ends at its last frame within ``offset_db`` of its loud
   frames: the VAD's probability stays high for a while after speech ends, the signal's level
   does not.

The file is read in blocks of about ``block_s`` seconds that line up with the model's windows and
the VAD's chunks, so memory stays flat whatever the length and the result is the same as in one
piece. The VAD of a block (and the speaker encoder, in a thread of its own) runs in a helper thread
while the RNN runs on the block before it.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from voxgender.core.aggregate import mean_log_posterior
from voxgender.core.hmm import SegmentDecoder
from voxgender.core.speaker_encoder import HOP as ENCODER_HOP
from voxgender.core.timeline import TIMELINE_LABELS, UNKNOWN, Segment, SegmentationResult, SegmentSummary
from voxgender.core.vad import CHUNK, VadState, shared_vad
from voxgender.io.audio import SAMPLE_RATE, AudioBlock, Source, frame_levels_db, read_blocks, source_name
from voxgender.model import Model, load_model

NONSPEECH = TIMELINE_LABELS.index("nonspeech")  # the decoder's non-speech state
RESET_ALWAYS = 1 << 30  # "a long pause": speech at the very start is an onset
ENCODER_WEIGHT = 3.0  # the speaker encoder's weight in the decoding, chosen on validation conversations
# (benchmarks/conversation_benchmark.py --split val --encoder): far above predict's 0.5, as one 1.6-s window's opinion
# of a voice outweighs a frame's of a network that restarts every 2 s
EncoderTrack = tuple[np.ndarray, np.ndarray]  # the speaker encoder's window centres (samples) and its probe's log-odds


@dataclass(frozen=True)
class SegmentConfig:
    """How posteriors become segments. Penalties are log-scores per label change.

    The defaults come from a coordinate search on broadcast recordings of the bundled model's
    validation speakers (``benchmarks/segmentation_benchmark.py --split val --tune``); the RNN's
    window and preroll from conversations of those speakers (``benchmarks/conversation_benchmark.py
    --split val``), checked on the broadcasts, as are the offsets' refinement.
    """

    min_speech_s: float = 0.5  # shortest female or male segment
    min_nonspeech_s: float = 0.75  # shortest pause
    switch_penalty: float = 20.0  # female <-> male with no pause between
    speech_penalty: float = 0.5  # speech <-> non-speech
    speech_threshold: float = 0.2  # VAD probability at which speech and non-speech score equal
    vad_floor: float = 0.1  # VAD probabilities are clipped to [vad_floor, 1 - vad_floor]: how sure one chunk may be
    gender_weight: float = 0.1  # weight of the RNN's log-posteriors against the VAD's
    male_bias: float = 0.0  # log-odds added for male against female (the calibrated model leans neither way)
    warmup_s: float = 0.5  # after each RNN restart the gender evidence grows linearly to full weight over this time
    reset_after_s: float = 0.3  # the RNN starts afresh at speech after a pause this long ...
    reset_threshold: float = 0.35  # ... where a pause is VAD probability below this (independent of the decoding)
    preroll_s: float = 0.5  # ... run from this long before it, output dropped
    window_s: float = 2.0  # the RNN also restarts every this many seconds (0: the model's own window), so that a
    # turn change without a pause is heard within seconds (validation conversations: identification error 14.2% -> 12.1%)
    block_s: float = 512.0  # audio read and processed at a time (rounded to whole model windows and VAD chunks)
    min_confidence: float = 0.0  # speech segments whose calibrated confidence is below this are labelled unknown
    offset_db: float = 30.0  # a speech segment before a pause ends at its last frame within this many dB of its loud
    # frames (their 90th percentile level), moved back by at most offset_max_s (0: the HMM's end is kept); validation
    # conversations: offsets found +50 -> +10 ms late, false alarm without a collar 4.51% -> 4.35%
    offset_max_s: float = 0.4
    encoder_step_s: float = 1.6  # with the model's speaker encoder: its 1.6-s windows start this often ...
    encoder_weight: float = ENCODER_WEIGHT  # ... and their probe's log-odds join every frame's at this weight in the decoding

    def __post_init__(self) -> None:
        if min(self.min_speech_s, self.min_nonspeech_s, self.reset_after_s, self.block_s, self.encoder_step_s) <= 0:
            raise ValueError("min_speech_s, min_nonspeech_s, reset_after_s, block_s and encoder_step_s must be positive")
        if min(self.switch_penalty, self.speech_penalty, self.gender_weight, self.warmup_s, self.preroll_s, self.window_s,
               self.offset_db, self.offset_max_s, self.encoder_weight) < 0:
            raise ValueError("penalties, gender_weight, warmup_s, preroll_s, window_s, offset_db, offset_max_s and "
                             "encoder_weight cannot be negative")
        if not (0 < self.speech_threshold < 1 and 0 < self.reset_threshold < 1):
            raise ValueError("speech_threshold and reset_threshold must be in (0, 1)")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError("min_confidence must be in [0, 1]")
        if not 0 < self.vad_floor < min(self.speech_threshold, 1 - self.speech_threshold):
            raise ValueError("vad_floor must be positive and below speech_threshold and 1 - speech_threshold")


class Segmenter:
    """Segments files or arrays with a model, silero-vad and an HMM.

    >>> with Segmenter(load_model()) as segmenter:  # the bundled model, default settings
    ...     result = segmenter("show.flac")         # a path, bytes, a file object or 16 kHz audio
    >>> result.summary.female_share, result.segments[:3]

    Its VAD runs in a helper thread: ``close()`` (or leaving the ``with`` block) ends it.
    """

    def __init__(self, model: Model | None = None, config: SegmentConfig | None = None) -> None:
        self.model = model or load_model()
        self.config = config or SegmentConfig()
        self.vad = shared_vad()
        feats = self.model.features
        self._hop = feats.hop_length
        self._win = feats.win_length
        self._context = feats.lookahead_frames * feats.hop_length  # samples Δ/ΔΔ need each side
        self.preroll_frames = round(self.config.preroll_s * SAMPLE_RATE / self._hop)
        window = self.config.window_s * SAMPLE_RATE / self._hop
        self.window_frames = min(self.model.window_frames, max(1, round(window))) if window else self.model.window_frames
        unit = math.lcm(self.window_frames * self._hop, CHUNK)
        self.block_samples = unit * max(1, round(self.config.block_s * SAMPLE_RATE / unit))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="voxgender-vad")
        self._encoder_pool = ThreadPoolExecutor(1, thread_name_prefix="voxgender-encoder") if self.model.encoder else None

    def __call__(self, source: Source | np.ndarray, name: str | None = None) -> SegmentationResult:
        """Segment a file (path, bytes, file object) or 16 kHz mono float32 audio."""
        return self._run(source, self._name(source, name))

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the helper threads; the segmenter cannot be used after it."""
        self._pool.shutdown(wait=True)
        if self._encoder_pool is not None:
            self._encoder_pool.shutdown(wait=True)

    def segment_file(self, source: Source, name: str | None = None) -> SegmentationResult:
        """Decode ``source`` block by block and segment it. Raises AudioError on bad input."""
        return self._run(source, self._name(source, name))

    def segment_array(self, audio: np.ndarray, name: str = "<array>") -> SegmentationResult:
        """Segment 16 kHz mono float32 audio (processed in the same blocks as a file)."""
        return self._run(audio, name)

    # -- pipeline ----------------------------------------------------------------------------------
    def iter_segments(self, source: Source | np.ndarray, name: str | None = None) -> Iterator[Segment]:
        """The segments of a file (path, bytes, file object) or of 16 kHz audio as they are decided,
        block by block: for hours-long input, the first come long before the end is read, and
        nothing is held but a few blocks. The same segments as the call gives."""
        return self._segments(source, self._name(source, name), _Run(self))

    def _name(self, source: Source | np.ndarray, name: str | None) -> str:
        return (name or "<array>") if isinstance(source, np.ndarray) else source_name(source, name)

    def _run(self, source: Source | np.ndarray, name: str) -> SegmentationResult:
        run = _Run(self)
        segments = list(self._segments(source, name, run))
        return SegmentationResult(name, segments, SegmentSummary.of(segments, run.total / SAMPLE_RATE))

    def _segments(self, source: Source | np.ndarray, name: str, run: "_Run") -> Iterator[Segment]:
        # Blocks carry the samples that Δ/ΔΔ need on each side and that complete their last frame.
        blocks = read_blocks(source, self.block_samples, self._context, self._win - self._hop + self._context, name=name)
        previous: _Evidence | None = None
        for block in blocks:  # the VAD (and speaker encoder) of each block run while the RNN works on the one before
            evidence = self._evidence(run, block)
            if previous is not None:
                run.add(*previous.result())
                yield from run.take()
            previous = evidence
            run.total = block.start + block.size
        if previous is not None:
            run.add(*previous.result())
        yield from run.finish()

    def _evidence(self, run: "_Run", block: AudioBlock) -> "_Evidence":
        """The block's VAD started in its helper thread, and its speaker encoder in another when loaded."""
        encoder = self._encoder_pool.submit(self.encoder_log_odds, block.own) if self._encoder_pool is not None else None
        return _Evidence(block, self._pool.submit(run.block_vad, block), encoder)

    def encoder_log_odds(self, audio: np.ndarray) -> EncoderTrack | None:
        """The speaker encoder's probe's female log-odds along ``audio``, with the sample at the
        centre of each of its windows. None when the model has no encoder loaded."""
        if self.model.encoder is None:
            return None
        encoder, probe = self.model.encoder
        embeddings, centres = encoder.track(audio, max(1, round(self.config.encoder_step_s * SAMPLE_RATE / ENCODER_HOP)))
        return centres, probe.log_odds(embeddings)

    def frame_log_odds(self, track: EncoderTrack, frames: int) -> np.ndarray:
        """An encoder track's log-odds for the first ``frames`` feature frames of its audio: those
        of the window whose centre is nearest each frame's centre."""
        centres, log_odds = track
        frame_centres = np.arange(frames) * self._hop + self._win / 2
        return log_odds[np.searchsorted((centres[1:] + centres[:-1]) / 2, frame_centres)]

    def p_female(self, log_post: np.ndarray, encoder_log_odds: np.ndarray) -> float:
        """A segment's calibrated p_female from its frames' log-posteriors and, when the encoder is
        heard, its probe's log-odds on them, fused as ``predict --encoder`` fuses a file's."""
        p_network = np.array([mean_log_posterior(log_post)])
        if self.model.encoder is None:
            return float(self.model.calibrate(p_network)[0])
        return float(self.model.encoder[1].fused_with_log_odds(p_network, np.array([encoder_log_odds.mean()]))[0])

    def frame_seconds(self, frame: int) -> float:
        """Time of the boundary before feature frame ``frame`` (between frame centres)."""
        return (frame * self._hop + (self._win - self._hop) / 2) / SAMPLE_RATE

    def frame_levels(self, block: AudioBlock, first: int, frames: int) -> np.ndarray:
        """Level in dB of the block's feature frames ``first`` to ``first + frames``, each over the
        hop between its boundaries (``frame_seconds``)."""
        start = first * self._hop + (self._win - self._hop) // 2
        levels = frame_levels_db(block.audio[start:start + frames * self._hop], self._hop)
        return np.pad(levels, (0, frames - len(levels)), mode="edge" if len(levels) else "constant").astype(np.float32)

    def chunk_of_frame(self, frames: np.ndarray) -> np.ndarray:
        """Index of the VAD chunk that holds each frame's centre."""
        return (frames * self._hop + self._win // 2) // CHUNK

    def scores(self, vad: np.ndarray, log_post: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Emission log-scores (frames, 3) from per-frame speech probability, log-posteriors and
        age (frames since the RNN last started afresh: its first frames are the least sure)."""
        cfg = self.config
        v = np.clip(vad, cfg.vad_floor, 1 - cfg.vad_floor).astype(np.float64)
        bias = math.log(cfg.speech_threshold / (1 - cfg.speech_threshold))
        speech = np.log(v)
        weight = cfg.gender_weight * np.minimum(1.0, (age + 1) / self.warmup_frames)
        female = weight * (log_post[:, 0] - cfg.male_bias / 2)
        male = weight * (log_post[:, 1] + cfg.male_bias / 2)
        return np.stack([np.log1p(-v) + bias, speech + female, speech + male], axis=1)

    @property
    def warmup_frames(self) -> float:
        """``warmup_s`` in feature frames (at least 1: no warm-up)."""
        return max(1.0, self.config.warmup_s * SAMPLE_RATE / self._hop)

    def decoder(self) -> SegmentDecoder:
        """A fresh HMM decoder for the labels (non-speech, female, male) with these settings."""
        cfg = self.config
        frame_s = self._hop / SAMPLE_RATE
        min_frames = [max(1, round(cfg.min_nonspeech_s / frame_s))] + [max(1, round(cfg.min_speech_s / frame_s))] * 2
        p_speech, p_switch = cfg.speech_penalty, cfg.switch_penalty
        penalty = np.array([[0, p_speech, p_speech], [p_speech, 0, p_switch], [p_speech, p_switch, 0]])
        return SegmentDecoder(min_frames, penalty)


@dataclass(frozen=True)
class _Evidence:
    """A block and the helper threads' work on it: its VAD, and its speaker encoder's (None without one)."""

    block: AudioBlock
    vad: Future[np.ndarray]
    encoder: Future[EncoderTrack] | None

    def result(self) -> tuple[AudioBlock, np.ndarray, EncoderTrack | None]:
        return self.block, self.vad.result(), self.encoder.result() if self.encoder is not None else None


def shifted_log_posteriors(log_post: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
    """Log-posteriors (frames, 2: female, male) with ``log_odds`` added to each frame's female log-odds."""
    odds = log_post[:, 0].astype(np.float64) - log_post[:, 1] + log_odds
    return np.stack([-np.logaddexp(0, -odds), -np.logaddexp(0, odds)], axis=1).astype(np.float32)


class _Run:
    """The state of one input going through a Segmenter: VAD state, pending frames, decoder."""

    def __init__(self, seg: Segmenter) -> None:
        self.seg = seg
        self.decoder = seg.decoder()
        self.vad_state: VadState | None = None  # the VAD's stream state after the last block
        self.quiet = RESET_ALWAYS  # non-speech chunks just before the next block
        self.vad = np.zeros(0, dtype=np.float32)  # speech probabilities of chunks [vad_base, ...)
        self.vad_base = 0
        self.log_post = np.zeros((0, 2), dtype=np.float32)  # the network's, frames [lp_base, ...)
        self.encoder_odds = np.zeros(0)  # the speaker encoder's probe's log-odds (0 without it), for the same frames
        self.age = np.zeros(0, dtype=np.int64)  # frames since the RNN's restart, for the same frames
        self.levels = np.zeros(0, dtype=np.float32)  # level in dB, for the same frames
        self.feat_tail = np.zeros((0, seg.model.features.dim), np.float32)  # the last feature frames, to prime a restart
        self.lp_base = 0
        self.pushed = 0  # frames given to the decoder
        self.segments: list[Segment] = []  # decided, not yet taken
        self.held: tuple[Segment, float] | None = None  # the last speech segment, and its end if a pause follows
        self.started = False  # the first segment has been taken
        self.total = 0  # samples read so far

    def block_vad(self, block: AudioBlock) -> np.ndarray:
        """Speech probabilities of the block's chunks (called in block order, in the VAD thread)."""
        probs, self.vad_state = self.seg.vad.probabilities(block.own, self.vad_state)
        return probs

    def add(self, block: AudioBlock, probs: np.ndarray, encoder: EncoderTrack | None = None) -> None:
        """Gender log-posteriors of the block's frames (and the speaker encoder's log-odds on them,
        when given); decode what both streams now cover."""
        hop = self.seg._hop
        feats = self.seg.model.features_of(block.audio)
        first = block.lead // hop
        feats = feats[first:None if block.last else first + block.size // hop]
        self.levels = np.concatenate([self.levels, self.seg.frame_levels(block, first, len(feats))])
        start = block.start // hop
        bounds = sorted(set(range(0, len(feats), self.seg.window_frames)) | self._onsets(block, probs, start, len(feats)))
        ends = bounds[1:] + [len(feats)]
        feats = np.concatenate([self.feat_tail, feats])  # frame a of the block is now frame a + tail
        tail, preroll = len(self.feat_tail), self.seg.preroll_frames
        starts = [max(0, a + tail - preroll) for a in bounds]
        pieces = [feats[lo:b + tail] for lo, b in zip(starts, ends)]
        primers = [a + tail - lo for a, lo in zip(bounds, starts)]
        self.feat_tail = feats[len(feats) - min(preroll, len(feats)):]
        log_post = (np.concatenate(self.seg.model.feature_log_posteriors(pieces, primers)) if pieces
                    else np.zeros((0, 2), np.float32))
        odds = self.seg.frame_log_odds(encoder, len(log_post)) if encoder is not None else np.zeros(len(log_post))
        self.encoder_odds = np.concatenate([self.encoder_odds, odds])
        self.vad = np.concatenate([self.vad, probs])
        self.log_post = np.concatenate([self.log_post, log_post])
        self.age = np.concatenate([self.age, *(np.arange(b - a) for a, b in zip(bounds, ends))])
        self._decode(block.last)

    def _onsets(self, block: AudioBlock, probs: np.ndarray, start: int, frames: int) -> set[int]:
        """Frames (relative to ``start``) where speech begins after a pause: the RNN restarts there."""
        cfg = self.seg.config
        pause = max(1, round(cfg.reset_after_s * SAMPLE_RATE / CHUNK))
        high = np.flatnonzero(probs >= cfg.reset_threshold)
        before = np.concatenate([[-self.quiet - 1], high[:-1]])
        onsets = high[high - before - 1 >= pause] + block.start // CHUNK
        self.quiet = len(probs) - high[-1] - 1 if len(high) else self.quiet + len(probs)
        cut = -(-(onsets * CHUNK - self.seg._win // 2) // self.seg._hop) - start
        return {int(c) for c in cut if 0 < c < frames}

    def _decode(self, last: bool) -> None:
        available = self.lp_base + len(self.log_post)
        ready = available
        if not last:  # frames whose centre lies in a chunk the VAD has not seen yet must wait
            vad_end = (self.vad_base + len(self.vad)) * CHUNK
            ready = min(available, max(self.pushed, -(-(vad_end - self.seg._win // 2) // self.seg._hop)))
        frames = np.arange(self.pushed, ready)
        vad = self.vad[self.seg.chunk_of_frame(frames) - self.vad_base]
        pending = slice(self.pushed - self.lp_base, ready - self.lp_base)
        log_post = self.log_post[pending]
        if self.seg.model.encoder is not None:
            log_post = shifted_log_posteriors(log_post, self.seg.config.encoder_weight * self.encoder_odds[pending])
        self._emit(self.decoder.push(self.seg.scores(vad, log_post, self.age[pending])))
        self.pushed = ready
        keep = int(self.seg.chunk_of_frame(np.array(ready))) - self.vad_base
        self.vad, self.vad_base = self.vad[keep:], self.vad_base + keep

    def _emit(self, segments: list[tuple[int, int, int]]) -> None:
        """Decoded segments into ``segments``; a speech segment is held until the next one tells
        whether a pause follows it, which moves its end to ``_offset``."""
        for first, end, label in segments:
            start, stop, name = self.seg.frame_seconds(first), self.seg.frame_seconds(end), TIMELINE_LABELS[label]
            if label == NONSPEECH:
                speech_end = self._release(before_pause=True)
                self.segments.append(Segment(start if speech_end is None else speech_end, stop, name))
                continue
            self._release()
            span = slice(first - self.lp_base, end - self.lp_base)
            p = self.seg.p_female(self.log_post[span], self.encoder_odds[span])
            doubtful = max(p, 1 - p) < self.seg.config.min_confidence
            self.held = (Segment(start, stop, UNKNOWN if doubtful else name, round(p, 4)), self._offset(first, end))
        done = self.decoder.base - self.lp_base
        self.log_post, self.encoder_odds = self.log_post[done:], self.encoder_odds[done:]
        self.age, self.levels = self.age[done:], self.levels[done:]
        self.lp_base = self.decoder.base

    def _offset(self, first: int, end: int) -> float:
        """Where speech in frames [first, end) ends if a pause follows: after its last frame within
        ``offset_db`` of its loud frames, at most ``offset_max_s`` before ``end``."""
        cfg = self.seg.config
        if cfg.offset_db <= 0:
            return self.seg.frame_seconds(end)
        levels = self.levels[first - self.lp_base:end - self.lp_base]
        loud = np.flatnonzero(levels >= np.percentile(levels, 90) - cfg.offset_db)
        earliest = end - round(cfg.offset_max_s * SAMPLE_RATE / self.seg._hop)
        return self.seg.frame_seconds(max(first + int(loud[-1]) + 1, earliest, first + 1))

    def _release(self, before_pause: bool = False) -> float | None:
        """The held speech segment into ``segments``, ended at its offset if a pause follows it;
        returns where it ends (None when none is held)."""
        if self.held is None:
            return None
        speech, offset = self.held
        self.held = None
        end = offset if before_pause else speech.end
        self.segments.append(replace(speech, end=end))
        return end

    def take(self) -> list[Segment]:
        """The segments decided since the last call, the first of the input starting at 0, rounded to ms."""
        out, self.segments = self.segments, []
        if out and not self.started:
            out[0] = Segment(0.0, out[0].end, out[0].label, out[0].p_female)
            self.started = True
        return [Segment(round(s.start, 3), round(s.end, 3), s.label, s.p_female) for s in out]

    def finish(self) -> list[Segment]:
        """The last segments, the last one ending where the input does (all of it non-speech when
        it is shorter than one feature frame)."""
        self._emit(self.decoder.finish())
        self._release()
        duration = self.total / SAMPLE_RATE
        if not self.segments:  # shorter than one feature frame (the decoder holds its last segment until now)
            return [] if self.started else [Segment(0.0, round(duration, 3), "nonspeech")]
        last = self.segments[-1]
        self.segments[-1] = Segment(last.start, duration, last.label, last.p_female)
        return self.take()
