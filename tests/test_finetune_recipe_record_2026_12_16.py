"""The fine-tuning recipe recorded and resumed whole: the card records the intensity jitter and
flips and rotations (--intensity-jitter, --no-augment) as it records trainable and replay,
`info` prints them, a resume with others is refused in one line, and a resumed card states the
minutes of all its sessions; the docks' messages name the Small-data options' fields by the
one mechanism all docks use (``in_dock_words``)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.training import TrainingConfig, read_checkpoint_info


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    save_weights(model, tmp_path / "base.safetensors",
                 {"arch": "gran", "config": model.config.model_dump(), "in_channels": 1,
                  "out_channels": 1})
    sharp = texture(10)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    return tmp_path


def finetune(tmp, out: str, steps: int, *extra) -> int:
    return main(["finetune", "--weights", str(tmp / "base.safetensors"), "--out",
                 str(tmp / out), "--blurry", str(tmp / "b.tif"), "--sharp", str(tmp / "s.tif"),
                 "--patch", "32", "--batch", "2", "--device", "cpu", "--steps", str(steps),
                 "--min-gain", "0", "-q", "--checkpoint-dir", str(tmp / "ck"), *extra])


def test_card_and_info_record_the_jitter_and_augment_and_a_resume_keeps_them(files, capsys):
    assert finetune(files, "a.safetensors", 2, "--intensity-jitter", "0.5", "--no-augment") == 0
    card = load_model(files / "a.safetensors")[1]
    assert card.training["intensity_jitter"] == 0.5 and card.training["augment"] is False
    capsys.readouterr()
    assert main(["info", str(files / "a.safetensors")]) == 0
    assert "augmentation: intensity jitter 0.5, flips and rotations off" in \
        capsys.readouterr().out
    last = (files / "ck" / "last.pt").read_bytes()
    for extra, words in ((("--intensity-jitter", "0.2", "--no-augment"),
                          "--intensity-jitter 0.5, not --intensity-jitter 0.2"),
                         (("--intensity-jitter", "0.5"), "--no-augment, not without --no-augment")):
        assert finetune(files, "b.safetensors", 4, "--resume", *extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
        assert "resume with its settings" in err
    assert not (files / "b.safetensors").exists()
    assert (files / "ck" / "last.pt").read_bytes() == last  # nothing of the run was changed
    assert finetune(files, "b.safetensors", 4, "--resume", "--intensity-jitter", "0.5",
                    "--no-augment") == 0
    resumed = load_model(files / "b.safetensors")[1]
    assert (resumed.training["intensity_jitter"], resumed.training["augment"]) == (0.5, False)


def test_a_resumed_card_states_the_minutes_of_all_its_sessions(files):
    assert finetune(files, "a.safetensors", 2, "--minutes", "5") == 0
    first = load_model(files / "a.safetensors")[1].description
    assert "at most 2 steps or 5 minute(s), whichever came first" in first
    earlier = float(read_checkpoint_info(files / "ck")["elapsed"])
    assert earlier > 0
    assert finetune(files, "b.safetensors", 4, "--minutes", "5", "--resume") == 0
    said = load_model(files / "b.safetensors")[1].description
    assert (f"at most 4 steps or {5 + earlier / 60:.3g} minute(s) of training in all sessions "
            f"({earlier / 60:.3g} before this resumed one, which had 5), whichever came first"
            ) in said, said


def test_train_cards_hold_no_jitter_or_augment_of_their_own():
    """`train` sets neither (its datasets carry their own): its card does not say None."""
    assert not {"intensity_jitter", "augment"} & set(TrainingConfig(steps=1).for_card())
    tuned = TrainingConfig(steps=1, intensity_jitter=0.0, augment=False).for_card()
    assert (tuned["intensity_jitter"], tuned["augment"]) == (0.0, False)


@pytest.mark.parametrize(("core", "dock"), [
    ("replay_images: a list of sharp (C, Y, X) images, with replay > 0; give replay= the share "
     "of each batch to replay on them", "Replay images: a list of sharp (C, Y, X) images, with "
     "replay > 0; set Replay share to the share of each batch to replay on them"),
    ("replay=0.25 with batch_size=1: a batch of one patch has no room; give batch_size=2 or "
     "more, or replay=0", "Replay share 0.25 with Batch size 1: a batch of one patch has no "
     "room; give Batch size 2 or more, or Replay share 0"),
    ("anchor_weight=-1.0; accepted: a finite number >= 0",
     "Anchor weight -1.0; accepted: a finite number >= 0"),
    ("steps=3; min_gain_db: Input should be greater than or equal to 0",
     "steps=3; Min gain (dB): Input should be greater than or equal to 0"),
    ("intensity_jitter=nan; accepted", "Intensity jitter nan; accepted"),
    # the other docks' messages: as before
    ("axes='ZYX' does not fit 'a_psf=1.tif'", "Axes 'ZYX' does not fit 'a_psf=1.tif'"),
    ("give a lower threshold=, e.g. threshold=1.2", "give a lower threshold=, e.g. Bead "
     "threshold 1.2"),
    ("give the PSF (psf=; --psf on the CLI: a TIFF)", "give the PSF (psf=; --psf on the CLI: "
     "a TIFF)"),
    ("no automatic threshold: no tile holds structure",
     "no automatic threshold: no tile holds structure"),
])
def test_one_mechanism_words_the_core_for_every_dock(core, dock):
    from napari_microdeblur._widgets._feedback import describe_error, in_dock_words

    assert in_dock_words(core) == dock
    assert describe_error(ValueError(core)) == dock
    assert in_dock_words(dock) == dock  # the finetune dock's check and describe_error both run


def test_the_cli_says_augment_as_its_flag():
    """The resume refusal read 'augment=False' on the command line, where the flag is
    --no-augment."""
    from napari_microdeblur.cli_words import in_cli_words

    options = {"intensity_jitter": "--intensity-jitter", "no_augment": "--no-augment"}
    said = in_cli_words("run with intensity_jitter=0.5, augment=False, not augment=True", options)
    assert said == "run with --intensity-jitter 0.5, --no-augment, not without --no-augment"
