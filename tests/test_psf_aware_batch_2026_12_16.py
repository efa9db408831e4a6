"""PSF-aware --weights without --psf: refused once, before any file is read, naming the PSF the
weights were fine-tuned with (a batch had said it once per file, then 'N failed', and written
failures.tsv); and `microdeblur info OUT` of their output prints the noise scale that ran (the
weights' calibrated one times --noise-scale), where it printed the one given."""

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import load_model, save_weights
from napari_microdeblur.core.psf import gaussian_psf


def _blurred_pair(seed: int, shape=(96, 96)):
    sharp = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.5)
    blurry = ndimage.convolve(sharp, gaussian_psf(1.6), mode="reflect")
    return blurry.astype(np.float32), sharp.astype(np.float32)


def _tiny_weights(path):
    torch.manual_seed(0)
    model = registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)
    save_weights(model, path, {"arch": model.arch_name, "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    return path


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """(folder, tiny PSF-aware weights, the same fine-tuned with --psf gaussian:1.6 by the
    CLI's finetune, so their card names that PSF as the job writes it)."""
    d = tmp_path_factory.mktemp("tuned")
    blurry, sharp = _blurred_pair(3)
    tifffile.imwrite(d / "b.tif", blurry)
    tifffile.imwrite(d / "s.tif", sharp)
    base = _tiny_weights(d / "tiny.safetensors")
    assert main(["finetune", "--weights", str(base), "--blurry", str(d / "b.tif"), "--sharp",
                 str(d / "s.tif"), "--psf", "gaussian:1.6", "--steps", "2", "--patch", "32",
                 "--batch", "2", "--device", "cpu", "-q",
                 "--out", str(d / "ft.safetensors")]) == 0
    return d, base, d / "ft.safetensors"


def _images(folder, count=3):
    folder.mkdir()
    for i in range(count):
        tifffile.imwrite(folder / f"s{i}.tif", _blurred_pair(10 + i, (40, 40))[0])
    return folder


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("microdeblur: error")]


def test_a_batch_without_psf_is_refused_once_naming_the_psf_of_the_fine_tune(
        tuned, tmp_path, capsys):
    _, _, weights = tuned
    inputs, out = _images(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    capsys.readouterr()
    assert main(["deblur", str(inputs), "-o", str(out), "--weights", str(weights)]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1, errors  # one refusal, not one per file
    assert "--weights 'ft.safetensors' is PSF-aware" in errors[0]
    assert "fine-tuned with --psf gaussian:1.6" in errors[0]
    assert not list(out.iterdir()) and not (tmp_path / "out.failures.tsv").exists()


def test_one_file_without_psf_says_the_same_line(tuned, tmp_path, capsys):
    _, _, weights = tuned
    source = _images(tmp_path / "in", 1) / "s0.tif"
    capsys.readouterr()
    assert main(["deblur", str(source), "-o", str(tmp_path / "o.tif"), "--weights",
                 str(weights)]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "fine-tuned with --psf gaussian:1.6" in errors[0]
    assert not (tmp_path / "o.tif").exists()


def test_weights_whose_card_names_no_psf_are_told_the_forms(tuned, tmp_path, capsys):
    _, base, _ = tuned
    inputs, out = _images(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    capsys.readouterr()
    assert main(["deblur", str(inputs), "-o", str(out), "--weights", str(base)]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "fine-tuned" not in errors[0]
    assert "gaussian:1.6, a TIFF or estimate" in errors[0]


def test_with_psf_the_weights_still_run(tuned, tmp_path):
    _, _, weights = tuned
    source = _images(tmp_path / "in", 1) / "s0.tif"
    assert main(["deblur", str(source), "-o", str(tmp_path / "o.tif"), "--weights",
                 str(weights), "--psf", "gaussian:1.6", "--device", "cpu", "-q"]) == 0
    assert tifffile.imread(tmp_path / "o.tif").shape == (40, 40)


def test_the_fine_tune_psf_is_read_from_the_card_record(tuned, tmp_path):
    from napari_microdeblur.cli_info_weights import finetuned_psf, finetuned_psf_words

    _, _, weights = tuned
    assert finetuned_psf(load_model(weights)[1]) == "gaussian:1.6"  # as the job recorded it
    assert "not found from here" in finetuned_psf_words({"metrics": {"finetuned_psf": "p.tif"}})
    (tmp_path / "psf.tif").write_bytes(b"")
    given = {"metrics": {"finetuned_psf": str(tmp_path / "psf.tif")}}
    assert finetuned_psf_words(given).endswith(f"--psf {tmp_path}/psf.tif")
    assert "as an array" in finetuned_psf_words({"metrics": {"finetuned_psf": "array"}})
    # its training-data words are not parsed: weights fine-tuned before the record name none
    assert finetuned_psf({"training_data": "x fine-tuned on c; PSF: disk:3; validation: b"}) \
        is None


def _calibrated(weights, path, scale: float):
    model, card = load_model(weights)
    data = card.model_dump(exclude={"sha256", "source"})
    data["metrics"]["calibrated_noise_scale"] = scale
    save_weights(model, path, data)
    return path


@pytest.mark.parametrize(("given", "said"), [
    ([], "noise scale 0.5 (calibrated when the weights were fine-tuned)"),
    (["--noise-scale", "3"], "noise scale 1.5 (3 given x 0.5 calibrated when the weights were "
                             "fine-tuned)"),
])
def test_info_prints_the_noise_scale_that_ran(tuned, tmp_path, capsys, given, said):
    _, _, weights = tuned
    half = _calibrated(weights, tmp_path / "half.safetensors", 0.5)
    source = _images(tmp_path / "in", 1) / "s0.tif"
    out = tmp_path / "o.tif"
    assert main(["deblur", str(source), "-o", str(out), "--weights", str(half), "--psf",
                 "gaussian:1.6", "--device", "cpu", "-q", *given]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert said in text, text
    assert text.count("noise scale") == 1


def test_python_deblur_without_psf_names_the_fine_tune_psf(tuned):
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import MethodSpec

    _, _, weights = tuned
    with pytest.raises(ValueError, match="fine-tuned with psf='gaussian:1.6'"):
        deblur(np.zeros((40, 40), np.float32), method=MethodSpec("auto", weights=str(weights)),
               device="cpu")


def test_info_on_the_weights_names_their_psf_and_calibrated_noise_scale(tuned, tmp_path, capsys):
    _, _, weights = tuned
    calibrated = _calibrated(weights, tmp_path / "c.safetensors", 0.7)
    capsys.readouterr()
    assert main(["info", str(calibrated)]) == 0
    said = capsys.readouterr().out
    assert "fine-tuned with PSF: gaussian:1.6 (give it as --psf)" in said
    assert "noise scale 0.7, calibrated on the held-out region" in said
