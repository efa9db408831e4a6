"""Which weights a run trains: all of them, the half nearest the output, or only the
one-dimensional tensors (biases and normalisation scales).

Training only part of a network is the other way, besides L2-SP's pull toward the starting
weights, to keep a few minutes of fine-tuning on a few images from moving the network far
from what it learned (issue 14; measured in ``benchmarks/finetune_recipes.py``):

* ``"all"``: every weight.
* ``"late"``: the layers nearest the output holding half of the weights, in the order a forward
  pass calls them (registration order is not forward order: a coarse-to-fine U-Net registers
  its finest level, which runs last, first).
* ``"norm-bias"``: every one-dimensional tensor (biases, normalisation scales; BitFit, Ben Zaken
  et al. 2022, with the normalisation layers of AdaBN-style adaptation): under 1 % of the
  weights of the bundled networks.

Frozen weights are left out of the optimiser, not marked ``requires_grad=False``, so the
network the caller passed is not changed. Normalisation layers update their running statistics
in every mode (the network runs in training mode).
"""

from __future__ import annotations

import torch
from torch import nn

from ..job_defaults import TRAINABLE

__all__ = ["TRAINABLE", "trainable_parameters"]


def _forward_order(model: nn.Module, probe: torch.Tensor) -> list[nn.Module]:
    """The modules that own parameters, in the order one forward pass of ``probe`` first calls
    them (modules never called are left out)."""
    order: list[nn.Module] = []
    seen: set[int] = set()

    def record(module, _inputs):  # when it is called, not when it returns: a module that
        if id(module) not in seen:  # holds weights and children uses its own weights first
            seen.add(id(module))
            order.append(module)

    owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    hooks = [m.register_forward_pre_hook(record) for m in owners]
    was = model.training
    try:
        model.eval()  # running statistics are not touched by the probe
        with torch.no_grad():
            model(probe)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return order


def _late_half(model: nn.Module, probe: torch.Tensor) -> list[nn.Parameter]:
    order = _forward_order(model, probe)
    total = sum(p.numel() for m in order for p in m.parameters(recurse=False))
    kept: list[nn.Parameter] = []
    count = 0
    for module in reversed(order):  # from the output back until half of the weights
        if count >= total / 2:
            break
        own = list(module.parameters(recurse=False))
        kept.extend(own)
        count += sum(p.numel() for p in own)
    return kept


def trainable_parameters(model: nn.Module, mode: str, probe: torch.Tensor | None = None
                         ) -> list[nn.Parameter]:
    """The parameters of ``model`` a run in ``mode`` (one of :data:`TRAINABLE`) trains;
    ``probe`` (an input batch) is needed for ``"late"``."""
    if mode == "all":
        return list(model.parameters())
    if mode == "norm-bias":
        return [p for p in model.parameters() if p.ndim == 1]
    if mode == "late":
        if probe is None:
            raise ValueError("trainable='late' needs an input to find the forward order")
        return _late_half(model, probe)
    raise ValueError(f"trainable={mode!r}; accepted: one of {TRAINABLE}")
