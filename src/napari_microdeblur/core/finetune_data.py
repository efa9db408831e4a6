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

__all__ = ["JitteredPairs", "card_mixture", "replay_source", "replayed_count",
           "request_replay"]


def replayed_count(batch: int, share: float) -> int:
    """Patches of a ``batch`` the replay takes at ``share``: rounded, at least one, never all;
    0 for share 0 (a batch of one cannot replay: ``finetune_request.check_replay``)."""
    return min(batch - 1, max(1, round(batch * share))) if share > 0 else 0


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
        k = replayed_count(n, self.replay_share)
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


def replay_source(card, images, *, seed: int, channels: int, patch: int,
                  given: str = "the replay images") -> tuple[data.SyntheticData, str]:
    """Synthetic pairs for replay: ``images`` (a list of (C, Y, X) sharp planes) blurred by
    ``card``'s mixture; and a line for the model card. Where the pairs are single planes
    (``channels`` 1: a one-channel network trains on RGB pairs channel by channel) each channel
    of a colour image is a plane of its own. ``ValueError`` where the card records no mixture,
    the images have other than ``channels`` channels or are smaller than ``patch``."""
    mixture, what = card_mixture(card)
    if mixture is None:
        raise ValueError("replay: the starting weights' model card records no synthetic "
                         "training mixture to replay (replay is for the bundled blind networks "
                         "and weights trained from them); give replay=0")
    images = [np.asarray(image) for image in images]
    if channels == 1:
        images = [image[c: c + 1] for image in images for c in range(image.shape[0])]
    names = [f"replay plane {i + 1} of {given}" for i in range(len(images))]
    source = data.SyntheticData(images, mixture, axes="CYX", seed=seed, names=names,
                                description=f"{given}: {len(images)} sharp plane(s)")
    if source.channels != channels:
        raise ValueError(f"replay_images: {source.channels} channel(s) per image, the pairs "
                         f"{channels}; give replay images of the same kind as the pairs")
    try:
        source.check_patch(patch)
    except ValueError as error:  # it speaks of training planes: these are the replay images
        raise ValueError(f"replay_images: {error}".replace("training plane", "replay plane")
                         ) from None
    return source, f"{what} on {source.description}"


def request_replay(req, train_pairs) -> tuple[data.SyntheticData | None, str]:
    """(the replay source of fine-tuning request ``req``, what its card says of it): None and
    '' without replay; on ``req.replay_images``, else the training targets (not the band)."""
    if req.replay <= 0:
        return None, ""
    given = req.replay_images is not None
    images = list(req.replay_images) if given else [p.target for p in train_pairs]
    replay, replayed = replay_source(
        req.base_card, images, seed=req.seed, channels=train_pairs[0].channels,
        patch=req.patch, given="the replay images" if given else "the training targets")
    return replay, (f"; replayed in {replayed_count(req.batch_size, req.replay)} of each "
                    f"batch's {req.batch_size} patches: {replayed}")
