"""From the acceptance audits of 2026-12-14: the Fine-tune dock (core.finetune) built
PSF-CycleGAN's unpaired blurry set flipped and turned, so an anisotropic PSF was learned as its
average over orientations, where `microdeblur train` keeps it as acquired."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from napari_microdeblur.core.finetune import _image_sets


def _images():
    rng = np.random.default_rng(0)
    return SimpleNamespace(images=[rng.random((64, 64), dtype=np.float32)], axes="YX",
                           name="blurry layer")


def test_the_fine_tune_job_keeps_psf_cyclegans_blurry_set_as_acquired():
    sets = _image_sets(SimpleNamespace(regime="psf_cyclegan", unpaired=_images(),
                                       unpaired_sharp=_images()))
    assert sets["unpaired"].augment is False  # the PSF's orientation is what is learned
    assert sets["unpaired_sharp"].augment is True


def test_other_regimes_keep_their_unlabelled_images_augmented():
    sets = _image_sets(SimpleNamespace(regime="sgpn", unpaired=_images(), unpaired_sharp=None))
    assert sets["unpaired"].augment is True


def test_info_says_which_checkpoint_adversarial_weights_kept(capsys):
    """The issue asks for the checkpoint choice of the adversarial regimes in the card; `info`
    showed it for no weights (the shipped GAN weights hold it in metrics.checkpoint)."""
    from napari_microdeblur.cli import main

    assert main(["info", "gran.gan_em_v1"]) == 0
    assert "  checkpoint kept: last step (adversarial regime)" in capsys.readouterr().out
