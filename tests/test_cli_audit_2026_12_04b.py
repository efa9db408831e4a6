"""Defects of the command line found by the second 2026-12-04 audit: evaluate's JSON of
identical images and its silence on two intensity scales, watch's second input onto another's
output, the core's Python argument names in error lines, foreign --weights in finetune/train
and --resume with other settings."""

import csv
import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.cli_words import in_cli_words
from napari_microdeblur.core import registry, training
from napari_microdeblur.core.checkpoint import ArchitectureUnknownError, load_model, save_weights
from napari_microdeblur.core.metrics import evaluate

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]


def _texture(seed=0, shape=(64, 64), scale=1.0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random(shape), 2.0)
    image = (image - image.min()) / (image.max() - image.min())
    return (image * scale).astype(dtype)


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# ----------------------------------------------------------------------------- 1, 2: evaluate


def test_evaluate_json_of_identical_images_is_valid_json(tmp_path, capsys):
    """`{"psnr": Infinity}` is no JSON: other languages' parsers refused it."""
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, _texture(scale=255, dtype=np.uint8))
    assert main(["evaluate", str(image), "--reference", str(image), "--json"]) == 0
    scores = _strict_json(capsys.readouterr().out)
    assert scores["psnr"] is None and scores["psnr_whole"] is None
    assert scores["identical"] is True and scores["ssim"] == pytest.approx(1.0)
    assert main(["evaluate", str(image), "--reference", str(image)]) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "inf" not in out.replace("infinite", "")


def test_evaluate_json_of_a_stack_with_one_identical_plane(tmp_path, capsys):
    ref = np.stack([_texture(i, scale=1000, dtype=np.uint16) for i in range(2)])
    pred = ref.copy()
    pred[1, 20:40, 20:40] += 50
    tifffile.imwrite(tmp_path / "r.tif", ref)
    tifffile.imwrite(tmp_path / "p.tif", pred)
    assert main(["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
                 "--axes", "ZYX", "--json"]) == 0
    scores = _strict_json(capsys.readouterr().out)
    assert scores["psnr_per_slice"][0] is None and scores["psnr_per_slice"][1] > 0
    assert scores["identical"] is False


def test_evaluate_warns_once_about_two_intensity_scales(tmp_path, capsys):
    """A uint8 prediction of a uint16 reference (the same image x 257) scored 4.8 dB with no
    word on why."""
    small = _texture(scale=255, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "p8.tif", small)
    tifffile.imwrite(tmp_path / "r16.tif", small.astype(np.uint16) * 257)
    argv = ["evaluate", str(tmp_path / "p8.tif"), "--reference", str(tmp_path / "r16.tif")]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    warning = captured.err.strip()
    assert len(warning.splitlines()) == 1 and warning.startswith("microdeblur: warning:")
    assert "uint8" in warning and "uint16" in warning and "same bit depth" in warning
    # the figures are the core's as before
    scores = _strict_json(captured.out)
    expected = evaluate(small, small.astype(np.uint16) * 257)
    assert scores["psnr"] == pytest.approx(expected["psnr"])


def test_evaluate_of_matching_scales_says_nothing_and_keeps_its_figures(tmp_path, capsys):
    ref = _texture(scale=4000, dtype=np.uint16)
    pred = ndimage.gaussian_filter(ref.astype(np.float32), 1.0)  # float32, as deblur writes
    tifffile.imwrite(tmp_path / "r.tif", ref)
    tifffile.imwrite(tmp_path / "p.tif", pred)
    assert main(["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    scores = _strict_json(captured.out)
    expected = evaluate(pred, ref)
    assert {k: scores[k] for k in expected} == expected
    assert scores["identical"] is False


def test_evaluate_help_describes_both_images(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the image to score" in text and "the ground-truth image" in text
    assert "is null" in text  # what --json prints for identical images


# ----------------------------------------------------------------------------- 3: watch


def _watch(src, out):
    return main(["watch", str(src), str(out), "--threshold", "1e9", "--once", "--settle", "0",
                 *WIENER])


def _log(out) -> dict:
    with open(out / "microdeblur_watch.csv", newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def test_watch_refuses_a_second_input_onto_another_ones_output(tmp_path, capsys):
    """a.png and a.tif both make a_deblurred.tif: the second was logged 'exists' and never
    deblurred, without a word."""
    import imageio.v3 as iio

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    iio.imwrite(src / "a.png", _texture(1, scale=255, dtype=np.uint8))
    tifffile.imwrite(src / "a.tif", _texture(2, scale=255, dtype=np.uint8))
    assert _watch(src, out) == 0
    rows = _log(out)
    assert rows["a.png"]["decision"] == "deblurred"
    assert rows["a.tif"]["decision"] == "name clash"
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "a.tif and a.png would both be written to a_deblurred.tif" in err and "rename" in err
    # a_deblurred.tif is a.png's result, not overwritten by a.tif's
    alone = tmp_path / "alone"
    alone.mkdir()
    iio.imwrite(alone / "a.png", _texture(1, scale=255, dtype=np.uint8))
    assert main(["deblur", str(alone / "a.png"), "-o", str(tmp_path / "ref.tif"), *WIENER]) == 0
    np.testing.assert_array_equal(tifffile.imread(out / "a_deblurred.tif"),
                                  tifffile.imread(tmp_path / "ref.tif"))
    # renamed, the file is taken as new
    (src / "a.tif").rename(src / "a_2.tif")
    assert _watch(src, out) == 0
    assert _log(out)["a_2.tif"]["decision"] == "deblurred"
    assert (out / "a_2_deblurred.tif").is_file()


def test_watch_knows_the_owner_of_an_output_across_a_restart(tmp_path, capsys):
    import imageio.v3 as iio

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "a.tif", _texture(1, scale=255, dtype=np.uint8))
    assert _watch(src, out) == 0
    before = (out / "a_deblurred.tif").read_bytes()
    iio.imwrite(src / "a.png", _texture(2, scale=255, dtype=np.uint8))  # arrives later
    assert _watch(src, out) == 0
    assert _log(out)["a.png"]["decision"] == "name clash"
    assert "a.png and a.tif would both be written" in capsys.readouterr().err
    assert (out / "a_deblurred.tif").read_bytes() == before


def test_watch_still_copies_a_sharp_file_whose_deblurred_name_is_taken(tmp_path, capsys):
    import imageio.v3 as iio

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    iio.imwrite(src / "a.png", _texture(1, scale=255, dtype=np.uint8))
    assert _watch(src, out) == 0
    tifffile.imwrite(src / "a.tif", _texture(2, scale=255, dtype=np.uint8))
    assert main(["watch", str(src), str(out), "--threshold", "1e-12", "--once", "--settle", "0",
                 *WIENER]) == 0  # every file is sharp: copied, no clash
    assert _log(out)["a.tif"]["decision"] == "copied" and (out / "a.tif").is_file()
    assert "would both be written" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- 4: spelling


@pytest.mark.parametrize("argv,option,python", [
    (["--tile", "8"], "--tile 8", "tile="),
    (["--weights", "nothing.pth"], "--weights 'nothing.pth': no such file", "weights="),
    ([*WIENER, "--overlap", "-1"], "--overlap -1", "overlap="),
    ([*WIENER, "--batch-size", "0"], "--batch-size 0", "batch_size="),
    ([*WIENER, "--axes", "ZYX"], "--axes 'ZYX'", "axes="),
    (["--method", "gran"], "give --weights FILE", "weights="),
])
def test_deblur_errors_name_the_option_the_user_typed(tmp_path, capsys, argv, option, python):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, _texture(scale=1000, dtype=np.uint16))
    assert main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), "--device", "cpu", "-q",
                 *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert option in err and python not in err and len(err.splitlines()) == 1, err


def test_other_commands_and_batch_lines_name_options_too(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", _texture(scale=1000, dtype=np.uint16))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(src), "-o", str(out), *WIENER, "--axes", "ZYX"]) == 2
    err = capsys.readouterr().err
    assert "a.tif: --axes 'ZYX' has 3 letters" in err and "axes=" not in err
    assert main(["evaluate", str(src / "a.tif"), "--reference", str(src / "a.tif"),
                 "--border", "30"]) == 2
    err = capsys.readouterr().err
    assert "--border 30 leaves" in err and "border=" not in err
    assert main(["focus", str(src / "a.tif"), "--tile", "2"]) == 2
    assert "--tile 2 must be" in capsys.readouterr().err


def test_the_translation_leaves_quoted_text_and_unknown_names_alone():
    options = {"tile": "--tile", "psf": "--psf", "batch": "--batch"}
    assert in_cli_words("tile=8 is small", options) == "--tile 8 is small"
    assert in_cli_words("give psf= an array", options) == "give --psf an array"
    assert in_cli_words("batch_size=4 and size_divisor=16", options) == (
        "--batch 4 and size_divisor=16")
    assert in_cli_words("--psf 'tile=3.tif' is no file", options) == "--psf 'tile=3.tif' is no file"
    assert in_cli_words("the network's tile=8", options) == "the network's --tile 8"


# ----------------------------------------------------------------------------- 5: --weights


def _tiny_gran():
    return registry.build_model("gran", registry.get_arch("gran").tiny_config)


def _foreign_weights(tmp_path):
    """A VGG-like state dict as .pth and as a .safetensors file without a card."""
    from safetensors.torch import save_file

    state = {"features.0.weight": torch.zeros(4, 3, 3, 3), "features.0.bias": torch.zeros(4),
             "classifier.0.weight": torch.zeros(2, 4)}
    torch.save(state, tmp_path / "vgg.pth")
    save_file(state, str(tmp_path / "vgg.safetensors"))
    return tmp_path / "vgg.pth", tmp_path / "vgg.safetensors"


def _pair(tmp_path):
    sharp = _texture(3, shape=(96, 96))
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    return ["--blurry", str(tmp_path / "b.tif"), "--sharp", str(tmp_path / "s.tif")]


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_finetune_of_weights_that_are_no_microdeblur_network_says_so(tmp_path, capsys, kind):
    """It said 'pass arch= (...; on the command line --method ARCH)': finetune has no
    --method, and no option makes a VGG a deblurring network."""
    weights = _foreign_weights(tmp_path)[kind == "safetensors"]
    out = tmp_path / "o.safetensors"
    assert main(["finetune", "--weights", str(weights), *_pair(tmp_path), "--out", str(out),
                 "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a microdeblur network" in err, err
    assert "'features.0.weight'" in err or "'classifier.0.weight'" in err
    assert "accepted: a .safetensors file written by microdeblur" in err
    assert "--method" not in err and "arch=" not in err and not out.exists()


def test_finetune_of_a_plain_state_dict_of_a_network_names_it(tmp_path, capsys):
    torch.save(_tiny_gran().state_dict(), tmp_path / "g.pth")
    assert main(["finetune", "--weights", str(tmp_path / "g.pth"), *_pair(tmp_path), "--out",
                 str(tmp_path / "o.safetensors"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "no model card naming its architecture" in err and "a gran network" in err
    assert "train --arch gran" in err and "--method" not in err


def test_train_reads_a_plain_state_dict_of_its_arch_and_names_another(tmp_path, capsys):
    from napari_microdeblur.cli_runs import load_start_weights

    paper = registry.build_model("gran", {})
    torch.save(paper.state_dict(), tmp_path / "paper.pth")
    model, card = load_start_weights(str(tmp_path / "paper.pth"), "gran")
    assert card.arch == "gran" and torch.equal(model.tail.weight, paper.tail.weight)
    pth = _foreign_weights(tmp_path)[0]
    with pytest.raises(ArchitectureUnknownError):
        load_start_weights(str(pth), "gran")
    assert main(["train", "--arch", "sgpn", "--weights", str(tmp_path / "paper.pth"),
                 "--sharp", str(tmp_path / "x.tif"), "--out",
                 str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "a gran network" in err and "give --arch gran" in err and "--method" not in err


def test_the_python_message_still_says_arch_and_what_the_file_holds(tmp_path):
    pth = _foreign_weights(tmp_path)[0]
    with pytest.raises(ArchitectureUnknownError, match="pass arch=") as caught:
        load_model(pth)
    assert caught.value.like == [] and "'features.0.weight'" in str(caught.value)


# ----------------------------------------------------------------------------- 6: --resume


def _base(tmp_path):
    model = _tiny_gran()
    path = tmp_path / "base.safetensors"
    save_weights(model, path, {"arch": "gran", "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    return path


def test_finetune_resume_with_other_lr_batch_or_patch_is_refused(tmp_path, capsys):
    """The resumed run restored the saved optimiser (its lr) while the progress, the card
    and the user's command said the new one; batch and patch changed silently."""
    ck = tmp_path / "ck"
    argv = ["finetune", "--weights", str(_base(tmp_path)), *_pair(tmp_path), "--device", "cpu",
            "-q", "--checkpoint-dir", str(ck)]
    first = ["--lr", "0.001", "--batch", "2", "--patch", "32"]
    assert main([*argv, *first, "--out", str(tmp_path / "a.safetensors"), "--steps", "2"]) == 0
    capsys.readouterr()
    last = (ck / "last.pt").read_bytes()
    out = tmp_path / "b.safetensors"
    code = main([*argv, "--lr", "0.01", "--batch", "4", "--patch", "32", "--out", str(out),
                 "--steps", "4", "--resume"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "was run with --lr 0.001, --batch 2, not --lr 0.01, --batch 4" in err
    assert "lr=" not in err and "batch_size" not in err and "patch" not in err
    assert not out.exists() and (ck / "last.pt").read_bytes() == last
    assert main([*argv, "--lr", "0.001", "--batch", "2", "--out", str(out), "--steps", "4",
                 "--resume"]) == 2  # --patch left at its default 64
    assert "was run with --patch 32, not --patch 64" in capsys.readouterr().err
    assert main([*argv, *first, "--out", str(out), "--steps", "4", "--resume"]) == 0
    assert load_model(ck / "last.safetensors")[1].metrics["step"] == 4


def test_iter_fit_resume_with_another_lr_is_refused(tmp_path):
    from napari_microdeblur.core import data

    train = data.SyntheticData([_texture(i, shape=(64, 64)) for i in range(2)], "A", seed=0)
    options = dict(steps=2, batch_size=2, patch=32, lr=1e-3, device="cpu",
                   checkpoint_dir=str(tmp_path))
    training.fit(_tiny_gran(), training.TrainingConfig(**options), train)
    more = {**options, "steps": 4, "checkpoint_dir": None}
    with pytest.raises(ValueError, match=r"was run with lr=0\.001, not lr=0\.002"):
        training.iter_fit(_tiny_gran(), training.TrainingConfig(**{**more, "lr": 2e-3}), train,
                          resume_from=tmp_path)
    records = []
    training.fit(_tiny_gran(), training.TrainingConfig(**more), train, resume_from=tmp_path,
                 callback=records.append)
    assert [r.step for r in records] == [3, 4]
