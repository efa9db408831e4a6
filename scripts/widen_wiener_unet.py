"""Widen a trained wiener_unet (more channels per level) without changing what it computes.

The new channels of every convolution start from the wider model's own random initialisation,
and every layer that reads them starts with zero weights on them, so the widened network
returns exactly the trained one's output (the "new units feed nothing yet" variant of Net2Net,
Chen et al., ICLR 2016). Training then grows the new channels' outgoing weights from zero. This
lets a continuation buy capacity without throwing away the trained prior.
"""

from __future__ import annotations

import torch


def _in_map(layer: str, old_width: dict, new_width: dict) -> list[int] | None:
    """New index of each old input channel of ``layer`` (a module path such as ``dec.1.0``);
    None for the first convolution, which reads the image's inputs (unchanged). A decoder
    block's first convolution reads [upsampled, skip], each of its level's width."""
    levels = len(old_width) - 1
    if layer == "tail":
        return list(range(old_width[0]))
    parts = layer.split(".")
    kind, i = parts[0], int(parts[1])
    if kind == "enc" and i == 0 and parts[2] == "0":
        return None
    level = {"enc": i, "down": i, "up": levels - i, "dec": levels - 1 - i}[kind]
    if kind == "dec" and parts[2] == "0":
        w_old, w_new = old_width[level], new_width[level]
        return list(range(w_old)) + [w_new + c for c in range(w_old)]
    return list(range(old_width[level]))


def widen_state(state: dict, model_old, model_new) -> dict:
    """``model_old``'s ``state`` mapped onto ``model_new`` (same config but ``base_channels``):
    old weights in place, new outputs randomly initialised, new inputs read with zero weight."""
    levels = model_old.config.levels
    old_width = {i: model_old.config.base_channels * 2**i for i in range(levels + 1)}
    new_width = {i: model_new.config.base_channels * 2**i for i in range(levels + 1)}
    out = {}
    for name, new in model_new.state_dict().items():
        old = state[name]
        if old.shape == new.shape and not name.endswith("weight"):
            out[name] = old.clone()
            continue
        if name.endswith("bias"):
            t = torch.zeros_like(new)
            t[: old.shape[0]] = old
            out[name] = t
            continue
        if name.startswith(("log_",)):
            out[name] = old.clone()
            continue
        t = new.clone()
        transposed = name.startswith("up.")  # ConvTranspose2d weights are (in, out, k, k)
        if transposed:
            t = t.transpose(0, 1)
            old = old.transpose(0, 1)
        layer = name.rsplit(".", 1)[0]
        in_map = _in_map(layer, old_width, new_width)
        if in_map is not None:
            keep = torch.zeros(t.shape[1], dtype=torch.bool)
            keep[in_map] = True
            t[:, ~keep] = 0.0  # the new channels are read with zero weight
            t[: old.shape[0], in_map] = old
        else:
            t[: old.shape[0]] = old
        out[name] = t.transpose(0, 1).contiguous() if transposed else t
    return out
