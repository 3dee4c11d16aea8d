"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Requests, active streams, latencies and predictions per label."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("voxgender_requests", "HTTP requests and WebSocket streams by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.active_streams = Gauge("voxgender_active_streams", "WebSocket streams open now", registry=self.registry)
        self.predict_latency = Histogram("voxgender_predict_latency_seconds", "POST /v1/predict processing time",
                                         buckets=LATENCY_BUCKETS, registry=self.registry)
        self.step_latency = Histogram("voxgender_stream_step_seconds",
                                      "one micro-batched engine step over all active streams",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter("voxgender_predictions", "final labels of uploads and streams",
                                   ["source", "label"], registry=self.registry)
        self.stream_audio = Counter("voxgender_stream_audio_seconds", "audio received over WebSocket streams",
                                    registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
