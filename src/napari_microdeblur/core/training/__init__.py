"""Training and fine-tuning: ``iter_fit`` (a generator of progress records) and ``fit``.

::

    from napari_microdeblur.core import data, training
    from napari_microdeblur.core.registry import build_model

    model = build_model("gran", {"in_channels": 1, "out_channels": 1, "n_resblocks": 8})
    train = data.SyntheticData(train_images, "mix")
    val = data.SyntheticData(val_images, "mix").validation_pairs()
    config = training.TrainingConfig(steps=5000, batch_size=16, patch=64, lr=2e-4,
                                     checkpoint_dir="ckpt", checkpoint_every=500)
    for record in training.iter_fit(model, config, train, val):
        print(record)      # FitProgress: step, loss, lr, val_psnr, val_ssim, seconds_left
    # or: result = training.fit(model, config, train, val)   (the blocking twin)

``iter_fit`` checks the config, the model and the data when it is called, before any
training, and returns a generator that yields a :class:`FitProgress` after every step (every
step is a cancel point) and *returns* a :class:`FitResult` (``StopIteration.value``; ``fit``
hands it back) holding the weights the regime's checkpoint criterion kept (supervised: the
best validation PSNR; gran_gan, sgpn and psf_cyclegan: the last, ``regimes.base.KEEP_LAST``).
Closing the generator (cancel) or a crash keeps the best checkpoint so far: with
``checkpoint_dir`` it is written in a ``finally`` as ``best.pt`` and, for registry-built
models, ``best.safetensors`` with a model card holding the config. Every ``checkpoint_every``
steps (and on cancel) ``last.pt`` holds everything a resume needs: model, optimisers, step,
random generators, the best weights so far and the regime's own state; ``resume_from=``
continues from it, bit for bit on the same machine.

The layout: :mod:`.config` (the :class:`TrainingConfig`), :mod:`.regimes` (one file per
regime, registered by name: supervised, gran_gan, sgpn, psf_cyclegan), :mod:`.losses`,
:mod:`.checkpoints`, :mod:`.setup` (the checks before the first step) and :mod:`.loop`;
:mod:`.regime_facts` holds the built-in regimes' declarations as plain data (`train --help`
reads them without torch). The names below are imported when first used.

The perceptual loss (gran_gan and sgpn ask for it) uses VGG-19 features at conv3_3, as in
SGPN, when ``vgg_weights`` names a local torchvision-layout state dict (``.pth``/
``.safetensors``, keys ``features.N.*``; ImageNet weights are never downloaded). Without it,
``perceptual_features="microscopy"`` (the default) uses the frozen encoder of the bundled
``c2f_unet.em_v2`` (:class:`MicroscopyFeatures`), and ``"none"`` leaves the term out with the
note "perceptual loss skipped: no VGG weights".

Devices: ``device="auto"`` picks CUDA, then MPS, then the CPU. ``amp="auto"`` trains CUDA in
mixed precision (bfloat16 where supported, else float16 with a GradScaler) and other devices in
float32; ``amp="bf16"`` also works on the CPU. The learning rate warms up linearly and decays
on a cosine to ``min_lr_ratio * lr``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from ..progress import drive

if TYPE_CHECKING:
    from torch import nn

    from .config import TrainingConfig
    from .records import FitProgress, FitResult

# Imported on first use: the regimes, losses and records import torch (1.3 s, 200 MB), and
# the checkpoints and setup the data pipeline (scipy.signal and friends, about 0.9 s and
# 80 MB), which the CLI's help (regime_facts is read without them) and a `deblur` run must not
# pay for.
_LAZY = {"CHECKPOINT_FORMAT": ".checkpoints", "read_checkpoint_info": ".checkpoints",
         "SKIPPED_PERCEPTUAL": ".setup", "AMP_MODES": ".config", "LOSSES": ".config",
         "TrainingConfig": ".config", "MicroscopyFeatures": ".losses",
         "VGGFeatures": ".losses", "diff_augment": ".losses", "multiscale_l1": ".losses",
         "FitProgress": ".records", "FitResult": ".records", "Regime": ".regimes",
         "get_regime": ".regimes", "list_regimes": ".regimes", "register_regime": ".regimes"}
#: the submodules, reachable as attributes as when this module imported them all
_SUBMODULES = ("checkpoints", "config", "loop", "losses", "records", "regime_facts", "regimes",
               "setup")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__all__ = [
    "AMP_MODES",
    "CHECKPOINT_FORMAT",
    "LOSSES",
    "SKIPPED_PERCEPTUAL",
    "FitProgress",
    "FitResult",
    "MicroscopyFeatures",
    "Regime",
    "TrainingConfig",
    "VGGFeatures",
    "default_loss_weights",
    "diff_augment",
    "fit",
    "get_regime",
    "iter_fit",
    "list_regimes",
    "multiscale_l1",
    "read_checkpoint_info",
    "register_regime",
]


def default_loss_weights() -> dict[str, dict[str, float]]:
    """The loss terms and default weights of every registered regime."""
    from .regimes import get_regime, list_regimes

    return {name: dict(get_regime(name).loss_weights) for name in list_regimes()}


def iter_fit(
    model: nn.Module,
    config: TrainingConfig | Mapping[str, Any],
    train,
    val=None,
    *,
    unpaired=None,
    unpaired_sharp=None,
    resume_from: str | os.PathLike | None = None,
) -> Generator[FitProgress, None, FitResult]:
    """Train ``model`` step by step; yields :class:`FitProgress`, returns :class:`FitResult`.

    ``config``: a :class:`TrainingConfig` (or a mapping of its fields). ``train``: a
    ``data.PairedData`` / ``data.SyntheticData`` (or a list of ``data.Pair``, or a
    ``(blurry, sharp)`` tuple of arrays). ``val``: a list of ``data.Pair`` (whole images or
    planes), a patch source (its ``validation_pairs()``), or None (no validation: the kept
    weights are the last). Validation runs on up to ``val_crops`` fixed crops of side
    ``val_size`` every ``val_every`` steps, before the first step (the baseline) and after
    the last. ``unpaired`` (blurry images without targets: sgpn, psf_cyclegan) and
    ``unpaired_sharp`` (sharp images: psf_cyclegan) take arrays, lists of arrays or patch
    sources; a regime that uses neither refuses them, and sgpn refuses to run without
    ``unpaired``. ``resume_from``: a ``last.pt`` or the
    checkpoint folder of an earlier run of the same regime.

    Everything is checked here, before any training: a ``ValueError`` names what to change.
    """
    from .config import TrainingConfig
    from .loop import Trainer, run
    from .setup import prepare

    if not isinstance(config, TrainingConfig):
        config = TrainingConfig.from_options(config)
    setup = prepare(model, config, train, val,
                    {"unpaired": unpaired, "unpaired_sharp": unpaired_sharp}, resume_from)
    trainer = Trainer(setup)
    if setup.resume is not None:
        trainer.load(setup.resume)
    return run(trainer)


def fit(model: nn.Module, config: TrainingConfig | Mapping[str, Any], train, val=None, *,
        callback: Callable[[FitProgress], object] | None = None, **data) -> FitResult:
    """Blocking twin of :func:`iter_fit` (``data``: its keyword arguments): runs to the end,
    handing each record to ``callback``, and returns the :class:`FitResult`."""
    return drive(iter_fit(model, config, train, val, **data), callback)

