"""Which `finetune --self` settings to make the default: measured on the TRAINING images of the
cross-dataset sets (benchmarks/generalization.py HELD_OUT[...]['train'], the images the classical
baselines are tuned on), never on their test images.

For each modality, network (the PSF-aware default and the blind default) and recipe, the first
training image (512-px centre crop) is degraded under protocol A with its true PSF, adapted by
core.self_adapt for the recipe's time box, and scored against the sharp image (border 16).

    python benchmarks/self_adapt_recipes.py [--recipes default,lr1e-3] [--minutes 3] \
        [--modalities em,fluorescence,brightfield] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))

import generalization as gen  # noqa: E402

from napari_microdeblur.core import bundled, self_adapt  # noqa: E402
from napari_microdeblur.core.checkpoint import load_model  # noqa: E402
from napari_microdeblur.core.inference import deblur  # noqa: E402
from napari_microdeblur.core.method import MethodSpec, network_method  # noqa: E402
from napari_microdeblur.core.metrics import evaluate  # noqa: E402
from napari_microdeblur.core.progress import drive  # noqa: E402
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, psf_aware_method  # noqa: E402
from napari_microdeblur.core.self_adapt import SelfAdaptConfig, iter_self_adapt  # noqa: E402

RECIPES = {  # name -> SelfAdaptConfig overrides
    "default": {},
    "lr1e-3": {"lr": 1e-3, "max_steps": 2000},
    "lr3e-4": {"lr": 3e-4, "max_steps": 2000},
    "lr1e-3_noprior": {"lr": 1e-3, "max_steps": 2000, "prior_weight": 0.0},
    # the prior's target: the unadapted network, or the PSF-aware default given the PSF
    "prior_start": {"prior_from": "start"},
    "prior_psf_aware": {"prior_from": "psf_aware"},
    "prior_psf_aware_w0.1": {"prior_from": "psf_aware", "prior_weight": 0.1},
    "prior_psf_aware_w0.5": {"prior_from": "psf_aware", "prior_weight": 0.5},
    # a PSF-aware network on RGB adapted to its R, G, B planes instead of the luminance and
    # chroma planes it runs on (core.self_adapt.OPPONENT_PLANES)
    "rgb_planes": {},
    "prior_rgb_channelwise": {},
}
#: recipe -> core.self_adapt settings changed for its run
MODULE_SETTINGS = {"rgb_planes": {"OPPONENT_PLANES": False},
                   "prior_rgb_channelwise": {"PRIOR_RGB_OPPONENT": False}}


def adapted_output(network: str, blurred, psf, axes: str, config: SelfAdaptConfig):
    model, card = load_model(network)
    result = drive(iter_self_adapt(model, blurred, psf, axes=axes, card=card, config=config))
    if getattr(result.model, "needs_psf", False):
        # as `deblur` runs it: an RGB image in the opponent colour space
        method = psf_aware_method(result.model, psf, card=card, rgb="S" in axes)
    else:
        method = network_method(result.model, card=card)
    return deblur(blurred, method=method, axes=axes), result


def row(modality: str, kind: str, recipe: str, minutes: float) -> dict:
    cfg = gen.HELD_OUT[modality]
    rgb = cfg.get("rgb", False)
    axes, channel_axis = ("YXS", -1) if rgb else ("YX", None)
    sharp = gen.centre_crop(gen.read(gen.SHARED / cfg["set"] / cfg["train"][0], rgb), gen.CROP)
    psf = gen.row_psf("A")
    blurred = gen.degrade_with(sharp, "A", psf, gen.SEED, rgb)
    network = bundled.default_for_modality(modality, rgb) if kind == "blind" else DEFAULT_PSF_AWARE
    spec = MethodSpec(network, psf=psf if kind == "psf_aware" else None)
    start = deblur(blurred, method=spec, axes=axes)
    t0 = time.perf_counter()
    config = SelfAdaptConfig(minutes=minutes, **RECIPES[recipe]).check()
    settings = MODULE_SETTINGS.get(recipe, {})
    with mock.patch.multiple(self_adapt, **settings) if settings else contextlib.nullcontext():
        out, result = adapted_output(network, blurred, psf, axes, config)
    compared = [("input", blurred), ("unadapted", start), ("adapted", out)]
    if kind == "blind":  # what the PSF-aware default makes of the same image and PSF
        compared.append(("psf_aware", deblur(blurred, method=MethodSpec(DEFAULT_PSF_AWARE, psf=psf),
                                             axes=axes)))
    score = {k: float(evaluate(v, sharp, border=gen.BORDER, channel_axis=channel_axis)["psnr"])
             for k, v in compared}
    r = {"modality": modality, "network": network, "recipe": recipe, **score,
         "gain_db": score["adapted"] - score["unadapted"], "steps": result.steps_done,
         "improved": result.improved, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(r), flush=True)
    return r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--networks", default="psf_aware,blind")
    p.add_argument("--modalities", default="em,fluorescence,brightfield")
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = [row(m, k, r, args.minutes) for m in args.modalities.split(",")
            for k in args.networks.split(",") for r in args.recipes.split(",")]
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
