"""The patches a fine-tuning run trains on: the user's pairs, jittered, and optionally a share
of synthetic pairs blurred as the starting network was trained (*replay*).

Replay (issue 14): a share of every batch is sharp images blurred and noised by the synthetic
mixture the starting weights' model card records (``degradation``), so that a few minutes on
a few pairs keep what the network learned on its broad training. The sharp images are the
ones given (``replay_images``: the starting network's own training images where the user has
them), else the training targets of the user's pairs (never the held-out region). Cards of
the v2 blind networks record their PSF ranges but their noise only in words: those replay the
PSF ranges with the mixture's default noise, and their optics-computed PSFs are not replayed
(the note says so).
"""

from __future__ import annotations

import json
from dataclasses import fields as dataclass_fields

import numpy as np

from . import data
from .finetune_request import check_jitter

__all__ = ["JitteredPairs", "card_mixture", "replay_source"]


class JitteredPairs(data.PairedData):
    """Paired patches (flips and 90-degree rotations when ``augment``) whose input and target
    get the same random gain in [1 - j, 1 + j] and offset in [-j/2, j/2] (model units), so a
    small set does not tie the network to its exposure. With ``replay`` (a
    ``data.SyntheticData``), ``replay_share`` of each batch (rounded, at least one patch) comes
    from it instead."""

    def __init__(self, pair_list, *, jitter: float, replay=None, replay_share: float = 0.0,
                 **options):
        super().__init__(pair_list, **options)
        self.jitter = check_jitter(jitter)
        self.replay = replay
        self.replay_share = float(replay_share) if replay is not None else 0.0

    def sample(self, rng: np.random.Generator, n: int, patch: int):
        k = min(n - 1, max(1, round(n * self.replay_share))) if self.replay_share > 0 else 0
        x, y = super().sample(rng, n - k, patch)
        if self.jitter > 0:
            m = n - k
            gain = rng.uniform(1 - self.jitter, 1 + self.jitter, (m, 1, 1, 1)).astype(np.float32)
            offset = rng.uniform(-self.jitter / 2, self.jitter / 2, (m, 1, 1, 1))
            x, y = x * gain + offset.astype(np.float32), y * gain + offset.astype(np.float32)
        if k:
            xr, yr = self.replay.sample(rng, k, patch)
            x, y = np.concatenate([x, xr]), np.concatenate([y, yr])
        return x, y


def card_mixture(card) -> tuple[data.DegradationRanges | None, str]:
    """(the synthetic mixture the model card records, what of it is replayed); None where the
    card records none (a protocol, a blurry domain in words, no card)."""
    text = str(getattr(card, "degradation", "") or "").strip()
    try:  # GRAN v1 and SGPN cards: "mix: {ranges}" as data.SyntheticData writes it
        given = json.loads(text.removeprefix("mix: ")) if text.startswith(("mix: ", "{")) else {}
    except json.JSONDecodeError:
        given = {}
    ranges = given.get("psf_ranges", given)  # v2 cards: {"psf_ranges": {...}, ...}
    known = {f.name for f in dataclass_fields(data.DegradationRanges)}
    if not isinstance(ranges, dict) or not ranges or not set(ranges) <= known:
        return None, ""
    ranges = {k: tuple(v.items()) if isinstance(v, dict) else tuple(v) if isinstance(v, list)
              else v for k, v in ranges.items()}
    mixture = data.DegradationRanges(**ranges)
    what = "the starting weights' synthetic mixture"
    if "psf_ranges" in given:
        what += (" (its PSF ranges with the default noise ranges; its optics-computed PSFs are "
                 "not replayed)")
    return mixture, what


def replay_source(card, images, *, seed: int, channels: int | None = None
                  ) -> tuple[data.SyntheticData, str]:
    """Synthetic pairs for replay: ``images`` (a list of (C, Y, X) sharp planes) blurred by
    ``card``'s mixture; and a line for the model card. ``ValueError`` where the card records
    no mixture, or the images have other than ``channels`` channels (the training pairs')."""
    mixture, what = card_mixture(card)
    if mixture is None:
        raise ValueError("replay: the starting weights' model card records no synthetic "
                         "training mixture to replay (replay is for the bundled blind networks "
                         "and weights trained from them); give replay=0")
    source = data.SyntheticData(list(images), mixture, axes="CYX", seed=seed,
                                description=f"{len(images)} sharp image(s)")
    if channels is not None and source.channels != channels:
        raise ValueError(f"replay_images: {source.channels} channel(s) per image, the pairs "
                         f"{channels}; give replay images of the same kind as the pairs")
    return source, f"{what} on {source.description}"
