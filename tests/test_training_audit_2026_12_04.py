"""Training audit of 2026-12-04: a one-channel blind network fine-tunes on RGB pairs channel by
channel, `finetune --self` refuses a constant image, and a psf_cyclegan card names its
unpaired sets as its training data (the --sharp images only validate it)."""

import json

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.degrade import degrade

FAST = ["--steps", "2", "--patch", "32", "--batch", "2", "--device", "cpu", "-q"]


def one_channel_base(tmp_path, arch="c2f_unet"):
    model = registry.build_model(arch, registry.get_arch(arch).tiny_config)
    path = tmp_path / "base.safetensors"
    save_weights(model, path, {"arch": arch, "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1, "license": "CC0-1.0"})
    return path


def test_finetune_of_a_one_channel_blind_network_on_rgb_pairs_trains_each_channel(
        tmp_path, he_rgb, capsys):
    # it was refused after the pairs were aligned, with "build the model with in_channels",
    # which a fine-tuning user cannot do; the network runs RGB channel by channel
    sharp, blurry = tmp_path / "s.tif", tmp_path / "b.tif"
    tifffile.imwrite(sharp, he_rgb, photometric="rgb")
    blurred = np.stack([gaussian_filter(he_rgb[..., c].astype(np.float32), 1.5)
                        for c in range(3)], -1)
    tifffile.imwrite(blurry, blurred.astype(np.uint8), photometric="rgb")
    out = tmp_path / "tuned.safetensors"
    code = main(["finetune", "--weights", str(one_channel_base(tmp_path)), "--blurry",
                 str(blurry), "--sharp", str(sharp), "--out", str(out), *FAST])
    assert code == 0, capsys.readouterr().err
    _, card = load_model(out)
    assert card.in_channels == 1 and "each channel a grayscale plane" in card.training_data
    assert "3 training plane(s)" in card.training_data
    assert main(["deblur", str(blurry), "-o", str(tmp_path / "d.tif"), "--weights", str(out),
                 "--device", "cpu", "-q"]) == 0
    assert tifffile.imread(tmp_path / "d.tif").shape == he_rgb.shape


def test_finetune_self_refuses_a_constant_image(tmp_path, capsys):
    # it adapted to it and reported a lower held-out loss, as if it had learned something
    image = tmp_path / "flat.tif"
    tifffile.imwrite(image, np.full((128, 128), 7, np.uint8))
    out = tmp_path / "adapted.safetensors"
    code = main(["finetune", "--self", str(image), "--psf", "gaussian:1.5", "--weights",
                 str(one_channel_base(tmp_path)), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("microdeblur: error")]
    assert code == 2 and len(errors) == 1 and "is constant" in errors[0], err
    assert not out.exists()


def test_psf_cyclegan_card_does_not_claim_the_validation_blur_as_training(
        tmp_path, fluo_u8, fluo_u16, capsys):
    # the card said degradation "mix" and "sharp images ..." as training data, though the
    # regime trains on the unpaired sets alone and mix only blurs the validation images
    folders = {}
    for name, arrays in {"sharp": [fluo_u8, fluo_u16],
                         "blurry": [degrade(fluo_u16, "B", seed=3),
                                    degrade(fluo_u8, "B", seed=4)]}.items():
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for i, a in enumerate(arrays):
            tifffile.imwrite(folders[name] / f"{i}.tif", a)
    arch_json, d_json = tmp_path / "a.json", tmp_path / "d.json"
    arch_json.write_text(json.dumps(registry.get_arch("psf_cyclegan").tiny_config))
    d_json.write_text(json.dumps({"base_channels": 4, "n_layers": 3}))
    out = tmp_path / "w.safetensors"
    assert main(["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
                 str(arch_json), "--discriminator-config", str(d_json), "--unpaired-blurry",
                 str(folders["blurry"]), "--unpaired-sharp", str(folders["sharp"]), "--out",
                 str(out), *FAST]) == 0
    _, card = load_model(out)
    assert card.degradation == "unknown (unpaired images)"
    assert card.training_data.startswith("--unpaired-blurry")
    assert "validation: sharp images" in card.training_data
    assert "degradation mix" in card.training_data


def test_degrade_names_the_image_not_an_internal_argument(tmp_path, capsys):
    # NaN pixels were reported as "ref (float32) holds NaN", a name the user never gave
    image = np.ones((64, 64), np.float32)
    image[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", image)
    code = main(["degrade", str(tmp_path / "nan.tif"), "-o", str(tmp_path / "d.tif"),
                 "--protocol", "A"])
    err = capsys.readouterr().err
    said = f"microdeblur: error: input '{tmp_path / 'nan.tif'}' holds 1 NaN"
    assert code == 2 and said in err, err
    assert not (tmp_path / "d.tif").exists()


def pair_files(tmp_path, fluo_u8):
    sharp, blurry = tmp_path / "s.tif", tmp_path / "b.tif"
    tifffile.imwrite(sharp, fluo_u8)
    tifffile.imwrite(blurry, gaussian_filter(fluo_u8.astype(np.float32), 1.5).astype(np.uint8))
    return ["--blurry", str(blurry), "--sharp", str(sharp)]


def test_finetune_resume_with_steps_already_run_is_refused(tmp_path, fluo_u8, capsys):
    # it trained nothing, wrote --out with the step-4 weights and a card saying "at most 2
    # steps" (training.steps 2)
    base, run = str(one_channel_base(tmp_path, "gran")), str(tmp_path / "run")
    argv = ["finetune", "--weights", base, *pair_files(tmp_path, fluo_u8), "--patch", "32",
            "--batch", "2", "--device", "cpu", "-q", "--checkpoint-dir", run]
    assert main([*argv, "--out", str(tmp_path / "a.safetensors"), "--steps", "4"]) == 0
    capsys.readouterr()
    out = tmp_path / "b.safetensors"
    code = main([*argv, "--out", str(out), "--steps", "2", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "has already run 4 steps; give --steps above 4" in err, err
    assert not out.exists()


def test_finetune_self_with_a_psf_too_large_says_so(tmp_path, capsys):
    # the refusal named image size, patch and val_fraction, not the 101-px PSF that caused it
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "b.tif", gaussian_filter(rng.random((128, 128)), 2)
                     .astype(np.float32))
    tifffile.imwrite(tmp_path / "psf.tif", np.ones((101, 101), np.float32))
    code = main(["finetune", "--self", str(tmp_path / "b.tif"), "--psf",
                 str(tmp_path / "psf.tif"), "--weights", str(one_channel_base(tmp_path)),
                 "--out", str(tmp_path / "o.safetensors"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "a PSF cropped to its support (now 101 px)" in err, err


def test_train_on_one_pair_says_what_to_give(tmp_path, fluo_u8, capsys):
    # it said "split_validation needs at least two images or planes, got 1; give a separate
    # validation set instead", an option train does not have
    arch_json = tmp_path / "a.json"
    arch_json.write_text(json.dumps(registry.get_arch("gran").tiny_config))
    code = main(["train", "--arch", "gran", "--config", str(arch_json),
                 *pair_files(tmp_path, fluo_u8), "--out", str(tmp_path / "w.safetensors"),
                 *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "give two or more pairs" in err and "split_validation" not in err, err


def test_train_refuses_an_image_option_given_twice(tmp_path, fluo_u8, capsys):
    # the second --sharp silently replaced the first: one image trained, "validated on the
    # training image"
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, fluo_u8)
    with pytest.raises(SystemExit) as exit_:  # an argparse error, before any image is read
        main(["train", "--arch", "gran", "--sharp", str(tmp_path / "a.tif"), "--sharp",
              str(tmp_path / "b.tif"), "--out", str(tmp_path / "w.safetensors"), *FAST])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "microdeblur: error: --sharp given twice" in err, err
    assert not (tmp_path / "w.safetensors").exists()


def test_finetune_of_a_one_channel_network_on_grey_and_rgb_fields_together(
        tmp_path, fluo_u8, he_rgb, capsys):
    # a glob matching a grayscale and an RGB pair failed with "validation pairs have [3]
    # channels, training data 1"; each channel is a plane of its own for this network
    tifffile.imwrite(tmp_path / "s0.tif", fluo_u8[:96, :96])
    tifffile.imwrite(tmp_path / "b0.tif", gaussian_filter(fluo_u8[:96, :96], 1.5))
    tifffile.imwrite(tmp_path / "s1.tif", he_rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "b1.tif", gaussian_filter(he_rgb, (1.5, 1.5, 0)),
                     photometric="rgb")
    out = tmp_path / "tuned.safetensors"
    code = main(["finetune", "--weights", str(one_channel_base(tmp_path)), "--blurry",
                 str(tmp_path / "b*.tif"), "--sharp", str(tmp_path / "s*.tif"), "--out",
                 str(out), "--val-fraction", "0.5", *FAST])
    assert code == 0, capsys.readouterr().err
    assert "each channel a grayscale plane" in load_model(out)[1].training_data


def test_finetune_of_an_rgb_network_on_grey_pairs_says_what_to_give(tmp_path, fluo_u8, capsys):
    # it said "build the model with in_channels/out_channels", which fine-tuning cannot do
    model = registry.build_model("gran", {**registry.get_arch("gran").tiny_config,
                                          "in_channels": 3, "out_channels": 3})
    base = tmp_path / "rgb.safetensors"
    save_weights(model, base, {"arch": "gran", "config": model.config.model_dump(),
                               "in_channels": 3, "out_channels": 3})
    code = main(["finetune", "--weights", str(base), *pair_files(tmp_path, fluo_u8), "--out",
                 str(tmp_path / "o.safetensors"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "give 3-channel images, or start from weights" in err, err


def test_finetune_self_refuses_the_paired_options_it_would_ignore(tmp_path, capsys):
    # --patience, --no-augment, --anchor-weight, --min-gain ... were accepted and ignored
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "b.tif", gaussian_filter(rng.random((128, 128)), 2)
                     .astype(np.float32))
    out = tmp_path / "o.safetensors"
    code = main(["finetune", "--self", str(tmp_path / "b.tif"), "--psf", "gaussian:1.5",
                 "--weights", str(one_channel_base(tmp_path)), "--out", str(out),
                 "--anchor-weight", "1", "--min-gain", "1", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "--anchor-weight, --min-gain: for pairs and stacks only" in err, err
    assert not out.exists()


def test_out_that_is_the_starting_weights_is_refused_even_with_overwrite(tmp_path, fluo_u8,
                                                                         capsys):
    # finetune/train --weights W --out W --overwrite replaced the user's starting weights
    base = one_channel_base(tmp_path, "gran")
    before = base.read_bytes()
    code = main(["finetune", "--weights", str(base), *pair_files(tmp_path, fluo_u8), "--out",
                 str(base), "--overwrite", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "is the --weights file" in err, err
    assert base.read_bytes() == before


def test_export_psf_onto_a_training_image_is_refused_even_with_overwrite(tmp_path, fluo_u8,
                                                                         capsys):
    # --export-psf sharp/0.tif --overwrite replaced the user's image with the learned PSF
    for name in ("sharp", "blurry"):
        (tmp_path / name).mkdir()
    tifffile.imwrite(tmp_path / "sharp" / "0.tif", fluo_u8)
    tifffile.imwrite(tmp_path / "blurry" / "0.tif", gaussian_filter(fluo_u8, 1.5))
    image = tmp_path / "sharp" / "0.tif"
    before = image.read_bytes()
    arch_json, d_json = tmp_path / "a.json", tmp_path / "d.json"
    arch_json.write_text(json.dumps(registry.get_arch("psf_cyclegan").tiny_config))
    d_json.write_text(json.dumps({"base_channels": 4, "n_layers": 3}))
    code = main(["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
                 str(arch_json), "--discriminator-config", str(d_json), "--unpaired-blurry",
                 str(tmp_path / "blurry"), "--unpaired-sharp", str(tmp_path / "sharp"),
                 "--out", str(tmp_path / "w.safetensors"),
                 "--export-psf", str(image), "--overwrite", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "is one of the training images" in err, err
    assert image.read_bytes() == before


def test_psf_cyclegan_3d_patch_refusal_counts_the_psf_margin(tmp_path, capsys):
    # it said "patch=44 is larger than 1 of the z-stacks ...; accepted: a patch of at most 24
    # voxels" to a user who gave --patch 24: the 10-px margin of the PSF was not mentioned
    rng = np.random.default_rng(0)
    for name in ("blurry", "sharp"):
        (tmp_path / name).mkdir()
        volume = gaussian_filter(rng.random((24, 48, 48)), 1).astype(np.float32)
        tifffile.imwrite(tmp_path / name / "v.tif", volume, imagej=True,
                         metadata={"axes": "ZYX"})
    config = {k: v for k, v in registry.get_arch("psf_cyclegan").tiny_config.items()
              if k != "spatial_dims"}
    arch_json, d_json = tmp_path / "a.json", tmp_path / "d.json"
    arch_json.write_text(json.dumps({**config, "psf_size": 21}))
    d_json.write_text(json.dumps({"base_channels": 4, "n_layers": 3}))
    code = main(["train", "--regime", "psf_cyclegan", "--arch", "psf_cyclegan", "--config",
                 str(arch_json), "--discriminator-config", str(d_json), "--unpaired-blurry",
                 str(tmp_path / "blurry"), "--unpaired-sharp", str(tmp_path / "sharp"),
                 "--out", str(tmp_path / "w.safetensors"), "--steps", "1", "--patch", "24",
                 "--batch", "1", "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--unpaired-sharp patches are the patch (24 px)" in err, err
    assert "(10 px)" in err and "z-stacks of at least 44 planes and 44 px a side" in err, err


def test_card_of_returned_starting_weights_says_so(tmp_path, fluo_u8, capsys):
    # the card said "fine-tuned for at most 2 steps" of weights no step had changed
    out = tmp_path / "o.safetensors"
    code = main(["finetune", "--weights", str(one_channel_base(tmp_path, "gran")),
                 *pair_files(tmp_path, fluo_u8), "--out", str(out), "--lr", "1e-9",
                 "--min-gain", "5", *FAST])
    assert code == 0, capsys.readouterr().err
    _, card = load_model(out)
    assert card.metrics["step"] == 0
    assert "kept the starting weights (no trained step beat them by 5 dB" in card.description
