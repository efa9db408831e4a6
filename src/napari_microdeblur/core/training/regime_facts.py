"""What the built-in training regimes declare, as plain data without torch: each one's summary,
default loss weights and where each comes from, whether it is adversarial (and so which
checkpoint it keeps), and the content losses and perceptual features a run can choose.

The regime classes (``regimes/*.py``, ``Regime`` subclasses declared with
``declared="name"``) take these from here, and `microdeblur train --help` (the ``--regime``
choices, each weight's defaults and sources, the checkpoint each regime keeps) reads them
without importing the training code: that imported torch, 1.3 s and 200 MB for a help text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_PERCEPTUAL_FEATURES", "KEEP_BEST", "KEEP_LAST", "LOSSES",
           "PERCEPTUAL_FEATURES", "REGIME_FACTS", "RegimeFacts", "psf_aware_refusal",
           "psf_not_learned"]

#: the checkpoint criterion of the adversarial regimes: the best validation PSNR would pick the
#: least adversarial weights (the ones closest to a plain L1 fit), undoing the GAN training
KEEP_LAST = "last step (adversarial: validation PSNR would favour the least adversarial weights)"
#: the checkpoint criterion of the others
KEEP_BEST = "best validation PSNR"
#: the content losses (``TrainingConfig.loss``, `train --loss`)
LOSSES = ("l1", "mse", "multiscale")
#: the features of the perceptual loss without VGG weights (``TrainingConfig.
#: perceptual_features``, `train --perceptual`), and the default
PERCEPTUAL_FEATURES = ("microscopy", "none")
DEFAULT_PERCEPTUAL_FEATURES = "microscopy"


@dataclass(frozen=True)
class RegimeFacts:
    """One regime's declaration: ``summary``, one line for --help (what it trains, which paper
    it follows); ``loss_weights``, its loss terms and default weights; ``loss_weight_sources``,
    where each default comes from in words (a term not named: the regime's paper);
    ``adversarial``, whether it trains a discriminator (it then keeps its last step)."""

    summary: str
    loss_weights: Mapping[str, float]
    loss_weight_sources: Mapping[str, str]
    adversarial: bool = False

    @property
    def checkpoint_criterion(self) -> str:
        return KEEP_LAST if self.adversarial else KEEP_BEST


_SGPN_WEIGHTS = {"content": 1.0, "adversarial": 0.1, "unsupervised": 0.01, "perceptual": 0.02}

#: name -> declaration of every built-in regime, in the order they are registered and listed
REGIME_FACTS: dict[str, RegimeFacts] = {
    "supervised": RegimeFacts(
        summary="pairs, content loss only (l1, mse, or multiscale: C2F U-Net, Wang and Han)",
        loss_weights={"content": 1.0, "perceptual": 0.0},
        # the perceptual term is off unless asked for (VGG weights alone ask for SGPN's 0.02)
        loss_weight_sources={"content": "the only term",
                             "perceptual": "ours: off; 0.02, SGPN's, with VGG weights"}),
    "gran_gan": RegimeFacts(
        summary="pairs, content + relativistic adversarial loss (GRAN_GAN, Zhang et al.)",
        # the paper gives no weights: SRGAN's 1e-3 adversarial weight (Ledig et al., "Photo-
        # realistic single image super-resolution using a generative adversarial network",
        # 2017) and SGPN's 0.02 perceptual weight
        loss_weights={"content": 1.0, "adversarial": 1e-3, "perceptual": 0.02},
        loss_weight_sources={"content": "ours: the paper gives no weights",
                             "adversarial": "SRGAN's, Ledig et al. 2017",
                             "perceptual": "SGPN's, Cheng et al."},
        adversarial=True),
    "sgpn": RegimeFacts(
        summary=("pairs + unlabelled blurry images, LSGAN + unsupervised consistency "
                 "(SGPN, Cheng et al.)"),
        loss_weights=_SGPN_WEIGHTS,
        loss_weight_sources=dict.fromkeys(_SGPN_WEIGHTS, "the paper's, Sec. 4.1"),
        adversarial=True),
    "psf_cyclegan": RegimeFacts(
        summary=("unpaired blurry and sharp images (2D or z-stacks), cycle consistency with an "
                 "explicit PSF layer (PSF-CycleGAN, Lim et al.)"),
        # psf_roughness 0.1: with 0.01 the PSF overshot to a narrow, elongated kernel (FWHM
        # error 34 %, NCC 0.93 after 600 PSF-only steps on the Gaussian case of
        # benchmarks/papers_psf.py); with 0.1, 9 % and 0.99 after 500
        loss_weights={"adversarial": 1.0, "cycle": 3.0, "psf": 0.01, "psf_roughness": 0.1,
                      "psf_centre": 1.0, "psf_spectrum": 10.0},
        loss_weight_sources={"adversarial": "the paper's", "cycle": "the paper's lambda_1",
                             "psf": "the paper's lambda_2", "psf_roughness": "ours",
                             "psf_centre": "ours", "psf_spectrum": "ours"},
        adversarial=True),
}


def psf_not_learned(regime: str, arch: str) -> str:
    """Why a run in ``regime`` has no learned PSF to export: `train --export-psf` and
    `psf-from-weights` refuse it in these words (the PSF layer keeps its starting Gaussian)."""
    return f"--regime {regime} does not learn the PSF of --arch {arch}"


def psf_aware_refusal(name: str) -> str:
    """Why a PSF-aware network (``name``) is not trained from scratch (`train` said to use a
    script that is not in the installed package), and how a lab adapts it instead."""
    from ..psf_aware import DEFAULT_PSF_AWARE

    return (f"{name} is PSF-aware and trains given the PSF: it is trained on the project's "
            "data sets by scripts/train_psf_aware.py of the source repository (not installed); "
            f"adapt it to your images with microdeblur finetune --weights {DEFAULT_PSF_AWARE} "
            "--psf PSF --blurry B.tif --sharp S.tif --out tuned.safetensors (Python: "
            "core.finetune, psf=)")
