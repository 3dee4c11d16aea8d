"""ONNX export: each network of a model as a graph that inference runs without torch.

The recurrent state is an explicit input and output of the graph, so a stream carries it from call
to call exactly as the torch model does. A test holds the graph's outputs to the torch model's.
"""

from __future__ import annotations

import io
import warnings

import torch

from voxgender.core.networks import zero_state
from voxgender.core.onnx_network import FEATURES, LOG_POSTERIORS, state_names
from voxgender.core.vad import FFT_SIZE, HIDDEN, PROBS, SPECTRA, SPECTRUM_FRAMES
from voxgender.training.networks import GenderRNN

OPSET = 17


class _LogPosteriors(torch.nn.Module):
    """GenderRNN with its state as separate tensors, returning frame log-posteriors."""

    def __init__(self, net: GenderRNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new_state = self.net(x, state)
        return (torch.log_softmax(logits, dim=-1), *new_state)


def onnx_graph(net: GenderRNN) -> bytes:
    """The ONNX graph of one network, with dynamic batch and frame axes."""
    inputs, outputs = state_names(net.cfg)
    state = tuple(torch.from_numpy(t) for t in zero_state(net.cfg, 2))
    example = torch.zeros(2, 10, net.cfg.input_dim)
    axes = {FEATURES: {0: "batch", 1: "frames"}, LOG_POSTERIORS: {0: "batch", 1: "frames"},
            **{name: {1: "batch"} for name in inputs + outputs}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on GRU batch sizes and deprecations
        torch.onnx.export(_LogPosteriors(net.eval()), (example, *state), buffer, input_names=[FEATURES, *inputs],
                          output_names=[LOG_POSTERIORS, *outputs], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def _as_linear(conv: torch.nn.Module, channels: int, length: int) -> torch.nn.Linear:
    """A Conv1d on inputs of ``length`` frames as one Linear layer on (channels x length) flattened inputs."""
    with torch.no_grad():
        basis = torch.eye(channels * length).reshape(-1, channels, length)
        bias = conv(torch.zeros(1, channels, length)).flatten()
        weight = (conv(basis).flatten(1) - bias).T
    linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    return linear


class _SileroVadSpectra(torch.nn.Module):
    """silero-vad's 16 kHz network after its STFT: encoder convolutions, LSTM and head over the
    magnitude spectra (B, R, 129, 4) of R chunks of B streams, with the LSTM state explicit."""

    def __init__(self) -> None:
        super().__init__()
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # importing it sets torch to one thread: undo that

        torch.set_num_threads(threads)
        silero = load_silero_vad(onnx=False)._model
        # A convolution over 1 to 4 frames runs faster as one matrix acting on the flattened
        # (channels x frames) input than as a convolution: the encoder becomes four Linear layers.
        self.encoder = torch.nn.ModuleList()
        channels, frames = FFT_SIZE // 2 + 1, SPECTRUM_FRAMES
        for block in silero.encoder.children():
            self.encoder.append(_as_linear(block.reparam_conv, channels, frames))
            channels, frames = block.reparam_conv.out_channels, self.encoder[-1].out_features // block.reparam_conv.out_channels
        cell = silero.decoder.rnn
        self.lstm = torch.nn.LSTM(cell.input_size, cell.hidden_size, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.lstm, f"{name}_l0").copy_(getattr(cell, name))
        head = getattr(silero.decoder.decoder, "2")  # (dropout, ReLU, 1x1 convolution, sigmoid)
        self.head = torch.nn.Linear(head.in_channels, 1)
        with torch.no_grad():
            self.head.weight.copy_(head.weight[:, :, 0])
            self.head.bias.copy_(head.bias)

    def forward(self, spectra: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        streams, rounds = spectra.shape[0], spectra.shape[1]
        x = spectra.reshape(streams, rounds, spectra.shape[2] * spectra.shape[3])
        for layer in self.encoder:
            x = torch.relu(layer(x))
        out, (h, c) = self.lstm(x, (h, c))
        return torch.sigmoid(self.head(torch.relu(out)))[..., 0], h, c


def vad_graph() -> bytes:
    """silero-vad's network over magnitude spectra as ONNX (``voxgender.core.vad`` runs it)."""

    state = torch.zeros(1, 2, HIDDEN)
    buffer = io.BytesIO()
    axes = {SPECTRA: {0: "streams", 1: "chunks"}, PROBS: {0: "streams", 1: "chunks"},
            **{name: {1: "streams"} for name in ("h", "c", "h_out", "c_out")}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_SileroVadSpectra().eval(), (torch.zeros(2, 3, 129, 4), state, state), buffer,
                          input_names=[SPECTRA, "h", "c"], output_names=[PROBS, "h_out", "c_out"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return buffer.getvalue()
