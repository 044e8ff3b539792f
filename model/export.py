"""The torch side of serving: a network exported to ONNX, once when it is trained, or on first
load for a model saved before the export existed. Serving itself never imports this module's
torch: it runs the exported graph with ONNX Runtime (model.bundle)."""

from __future__ import annotations

import io
import logging
import threading
import warnings
from typing import Any

import torch

from model.bundle import OUTPUT, PRIOR_INPUT, STEPS_INPUT
from model.features import FEATURES, PRIOR
from model.network import LSTMForecaster

logger = logging.getLogger(__name__)

OPSET = 17  # ONNX opset of the exported graph: ONNX Runtime 1.16 and later run it

#: Exports share torch's global tracing state, so two at once (parallel API reloads of models
#: saved before ONNX) could interfere, as torch.jit.trace did: one export at a time.
_EXPORTING = threading.Lock()


def to_onnx(net: LSTMForecaster, window: int) -> bytes:
    """The network in eval mode as an ONNX graph with a dynamic batch axis."""
    example = (torch.zeros(1, window - 1, len(FEATURES)), torch.zeros(1, len(PRIOR)))
    buffer = io.BytesIO()
    training = net.training
    net.eval()
    try:
        with _EXPORTING, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter warns about its own future
            torch.onnx.export(
                net,
                example,
                buffer,
                input_names=[STEPS_INPUT, PRIOR_INPUT],
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch"} for name in (STEPS_INPUT, PRIOR_INPUT, OUTPUT)},
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript
            )
    finally:
        net.train(training)
    return buffer.getvalue()


def weights_of(net: LSTMForecaster) -> bytes:
    """The state dict as `torch.save` writes it: the bundle's weights.pt."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


def network_from(weights: bytes, hparams: dict[str, Any]) -> LSTMForecaster:
    """The torch network a bundle's weights.pt and hyperparameters describe, in eval mode."""
    net = LSTMForecaster(**hparams)
    net.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    return net.eval()


def export_weights(weights: bytes, hparams: dict[str, Any], window: int) -> bytes:
    """The ONNX graph of a bundle saved with torch weights only."""
    return to_onnx(network_from(weights, hparams), window)
