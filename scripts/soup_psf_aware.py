#!/usr/bin/env python
"""Average the weights of PSF-aware training runs into one network (a model soup).

Runs fine-tuned from one starting point with one configuration can be averaged weight by
weight; the average is often better than each run and costs nothing at inference (one network,
one pass). Wortsman et al., "Model soups", ICML 2022: the *greedy* soup adds runs in order of
their validation score and keeps each only if the validation score improves.
``benchmarks/psf_aware_select.py`` scores soups as ``soup:W1,W2`` candidates; this script
writes the chosen one with a model card (its members' cards, its validation score on the
training script's validation batch, its speed).

    python scripts/soup_psf_aware.py runs/wiener_unet.psf_v9.safetensors \\
        runs/wiener_unet.psf_v11.safetensors \\
        --out src/napari_microdeblur/weights/wiener_unet.psf_v4.safetensors
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import psf_aware_data as D  # noqa: E402
import train_psf_aware as T  # noqa: E402

from napari_microdeblur.core.checkpoint import load_model, save_weights  # noqa: E402
from napari_microdeblur.core.psf_safeguard import (  # noqa: E402
    TRAINED_WIDTH_KEY,
    trained_half_max_width,
)


def load_members(members: list[str]) -> list:
    """(model, card) of each of ``members`` (files or bundled names); SystemExit unless there
    are at least two of one architecture and configuration."""
    if len(members) < 2:
        raise SystemExit("a soup needs at least two weights files")
    loaded = [load_model(m) for m in members]
    first_card = loaded[0][1]
    for name, (_, card) in zip(members[1:], loaded[1:]):
        if (card.arch, card.config) != (first_card.arch, first_card.config):
            raise SystemExit(f"{name} is a {card.arch} {card.config}, {members[0]} a "
                             f"{first_card.arch} {first_card.config}; a soup needs one "
                             "architecture and configuration")
    return loaded


def average(loaded: list) -> torch.nn.Module:
    """A new model holding the uniform average of the loaded members' weights (the members
    are left as they are)."""
    states = [m.state_dict() for m, _ in loaded]
    model = copy.deepcopy(loaded[0][0])
    model.load_state_dict({k: sum(s[k].float() for s in states) / len(states) for k in states[0]})
    return model


def soup(members: list[str]) -> torch.nn.Module:
    """The uniform average of ``members``' weights (files or bundled names of one arch and
    configuration) in a model of that configuration. SystemExit if they differ."""
    return average(load_members(members))


def soup_degradation(members: list[str], cards: list) -> dict:
    """The soup card's ``degradation``: the members' own, under the parametric PSF ranges they
    share (what ``core.psf_safeguard`` reads, with each member's training PSF side)."""
    degradations = [json.loads(c.degradation) for c in cards]
    return {
        "psf_ranges": degradations[0]["psf_ranges"],
        "soup": "uniform average of the members' weights (Wortsman et al., ICML 2022)",
        "members": [{"weights": m, "degradation": d} for m, d in zip(members, degradations)],
    }


def training_data(cards) -> str:
    """The members' training data: one text when they agree, else each member's in turn (a
    member trained on RGB as luminance and chroma planes differs from one trained on R, G, B)."""
    texts = list(dict.fromkeys(c.training_data for c in cards))
    if len(texts) == 1:
        return texts[0]
    return "Members trained on: " + " | ".join(f"({i}) {t}" for i, t in enumerate(texts, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("members", nargs="+", help="weights files (or bundled names) to average")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--data-root", type=Path, default=D.DEFAULT_DATA)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_members(args.members)
    model = average(loaded)
    cards = [card for _, card in loaded]
    _, val = D.training_sets(args.data_root)
    vx, vy, vk = (torch.from_numpy(a) for a in D.validation_batch(val, aberrated=True, halo=True))
    score = T.evaluate(model, vx, vy, vk, amp=True)
    member_scores = [T.evaluate(m, vx, vy, vk, amp=True) for m, _ in loaded]
    speed = T.cpu_speed(model.eval(), amp=True)
    D.log(f"soup of {len(args.members)}: validation {score:.3f} dB (members "
          + ", ".join(f"{s:.3f}" for s in member_scores) + f"); {speed:.2f} MP/s")
    given = sys.argv[1:] if argv is None else list(argv)
    command = "python scripts/soup_psf_aware.py " + " ".join(given)
    save_weights(model, args.out, {
        "normalization": cards[0].normalization,
        "training_data": training_data(cards),
        "degradation": json.dumps(soup_degradation(args.members, cards)),
        "metrics": {
            # the widest member's, also through members that are soups or continued runs
            TRAINED_WIDTH_KEY: round(max(trained_half_max_width(c) for c in cards), 2),
            "val_psnr": round(score, 3),
            "val_psnr_members": [round(s, 3) for s in member_scores],
            "validation": cards[0].metrics.get("validation"),
            "members_metrics": [c.metrics for c in cards],
            "cpu_megapixels_per_s_1024": round(speed, 3),
            "threads": args.threads,
            "command": command,
        },
        "license": cards[0].license,
        "description": (
            "PSF-aware deep Wiener deconvolution (wiener_unet): give it the PSF. The weight "
            f"average of {len(cards)} training runs from one start (a model soup), each "
            "trained on six microscopy sets (fluorescence, brightfield, histology, EM); one of "
            "them (EPFL FIB-SEM) states no licence, hence NOASSERTION. Reproduce: " + command
        ),
    })
    D.log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
