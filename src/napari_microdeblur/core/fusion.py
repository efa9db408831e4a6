"""Inference copies of networks with batch normalisation folded into the convolution before it.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be folded
into the convolution's weights and bias: one pass over the activations fewer. For the C2F
U-Net defaults BatchNorm was 9-11 % of the operator time at the default tile
(benchmarks/speed.py). The model the user holds is never changed: the fold works on a copy,
rebuilt when the original's parameters change (fine-tuning after a preview).
"""

from __future__ import annotations

import copy
import threading
import weakref

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["InferenceCopy", "fold_batchnorm", "shared_inference_copy"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _fold_in(module: nn.Module) -> int:
    folded = 0
    for child in module.children():
        folded += _fold_in(child)
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = module._modules[first], module._modules[second]
            if (isinstance(conv, _CONVS) and isinstance(norm, _NORMS)
                    and norm.track_running_stats and norm.running_mean is not None):
                module._modules[first] = fuse_conv_bn_eval(conv, norm)
                module._modules[second] = nn.Identity()
                folded += 1
    return folded


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """(an eval-mode copy of ``model`` with every Conv -> BatchNorm pair of an nn.Sequential
    folded, the number of pairs folded); ``model`` itself when it has none."""
    if not any(isinstance(m, _NORMS) for m in model.modules()):
        return model, 0
    with torch.no_grad():
        folded_model = copy.deepcopy(model).eval()
        n = _fold_in(folded_model)
    return (folded_model, n) if n else (model, 0)


class InferenceCopy:
    """The folded copy of a model, rebuilt when any of the model's parameters or buffers has
    changed since (torch counts in-place writes in each tensor's ``_version``). Holds the model
    weakly, so that ``shared_inference_copy`` can keep one per model without keeping it alive.

    ``lock`` is held while the copy is rebuilt, and by whoever moves the model (to a device,
    channels-last: ``method.NetworkRunner``): threads sharing one model (a cluster worker's,
    the Python API's recent networks) had run a copy folded from half-moved weights, or before
    its own re-layout, whose other kernels round bfloat16 otherwise: results that depended on
    which thread came first."""

    def __init__(self, model: nn.Module):
        self._model = weakref.ref(model)
        self._key: tuple | None = None
        self._copy: nn.Module | None = None  # None: nothing folded, the model runs itself
        self.lock = threading.Lock()

    @property
    def model(self) -> nn.Module:
        model = self._model()
        if model is None:
            raise RuntimeError("the model of this InferenceCopy no longer exists")
        return model

    def _state_key(self, model: nn.Module) -> tuple:
        tensors = list(model.parameters()) + list(model.buffers())
        return tuple((t.data_ptr(), t._version) for t in tensors)

    def get(self, memory_format: torch.memory_format | None = None) -> nn.Module:
        model = self.model
        with self.lock:
            key = self._state_key(model)
            if key != self._key:
                folded, n = fold_batchnorm(model.eval())
                if memory_format is not None and n:
                    folded.to(memory_format=memory_format)  # the folded weights are new tensors
                self._copy, self._key = (folded if n else None), key
            return model if self._copy is None else self._copy


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_inference_copy(model: nn.Module) -> InferenceCopy:
    """The one InferenceCopy of ``model``: every Method built on a model loaded once for a
    batch of files runs the same folded copy, folded once (it was once per file)."""
    copy_ = _SHARED.get(model)
    if copy_ is None:
        copy_ = _SHARED[model] = InferenceCopy(model)
    return copy_
