"""A CARE migrant's walkthrough (2026-12-22): CARE's sample axis S (a stack of separate images,
axes='SYX') ran silently as one RGB image here, where S is colour samples; and a blurry/sharp
pair given as one image (--blurry base/GT --sharp base/GT, the same layer twice) trained to
its end, saying only then that the weights were below the input."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import data, inference, registry, training
from napari_microdeblur.core.method import MethodSpec

WIENER = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.05}


def crops(n: int, seed: int = 0, side: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([ndimage.gaussian_filter(rng.random((side, side)), 2) * 200
                     for _ in range(n)]).astype(np.float32)


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ----------------------------------------------------------------------------- 1. CARE's S


@pytest.mark.parametrize(("n", "options", "said"), [
    (3, {**WIENER, "modality": "em"}, "modality='em' is grayscale"),
    (2, {**WIENER, "modality": "fluorescence"}, "modality='fluorescence' is grayscale"),
    (4, {"method": "auto", "modality": "em", "psf": "gaussian:1.6"}, "modality='em'"),
    (3, {"method": "c2f_unet.em_v2"}, "method='c2f_unet.em_v2' is an EM network (grayscale)"),
])
def test_care_sample_axis_on_a_grayscale_run_is_refused_before_any_work(monkeypatch, n,
                                                                        options, said):
    def no_work(*args, **kwargs):
        raise AssertionError("settled the method on the image before the axes were refused")

    monkeypatch.setattr(inference, "spec_for_image", no_work)
    with pytest.raises(ValueError) as caught:
        inference.deblur(crops(n), axes="SYX", **options)
    line = str(caught.value)
    assert "\n" not in line and said in line, line
    assert line.startswith("axes 'SYX': S is colour samples (RGB, RGBA) here, and ")
    assert line.endswith("for a stack of separate images (CARE's sample axis) give Z or T "
                         "(axes='ZYX')")


def test_planar_rgb_stays_valid_where_the_run_may_be_colour():
    """S first for a colour image (a planar RGB TIFF reads SYX): modality auto or brightfield,
    and S last whatever the modality, run as before."""
    image = crops(3)
    last = inference.deblur(np.moveaxis(image, 0, -1), axes="YXS", modality="em", **WIENER)
    for modality in ("auto", "brightfield"):
        first = inference.deblur(image, axes="SYX", modality=modality, **WIENER)
        np.testing.assert_allclose(first, np.moveaxis(last, -1, 0), rtol=0, atol=1e-3)


def test_c_and_s_together_say_what_s_is_here():
    with pytest.raises(ValueError) as caught:
        inference.deblur(crops(3)[:, None], axes="SCYX", **WIENER)
    line = str(caught.value)
    assert line.startswith("axes='SCYX' has both C and S; use one channel axis: S is colour "
                           "samples here (RGB, RGBA)"), line
    assert line.endswith("(CARE's sample axis S) give Z or T, e.g. axes='ZCYX'")


def test_command_line_says_it_in_its_words(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("crops.tif", crops(3).astype(np.uint8), photometric="minisblack")
    code = main(["deblur", "crops.tif", "-o", "out.tif", "--axes", "SYX", "--modality", "em",
                 "--method", "wiener", "--psf", "gaussian:1.2", "-q"])
    line = error_line(capsys)
    assert code == 2 and not (tmp_path / "out.tif").exists()
    assert "--axes 'SYX': S is colour samples (RGB, RGBA) here, and --modality 'em' is " \
           "grayscale;" in line and line.endswith("give Z or T (--axes 'ZYX')"), line


@pytest.mark.parametrize("command", [
    ["train", "--arch", "gran"], ["finetune", "--weights", "gran.em_v1"]])
def test_training_scyx_says_what_s_is_here(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    for name in ("b.tif", "s.tif"):
        tifffile.imwrite(name, crops(3, seed=len(name))[:, None].astype(np.uint8))
    code = main([*command, "--blurry", "b.tif", "--sharp", "s.tif", "--axes", "SCYX",
                 "--out", "w.safetensors", "--steps", "2", "-q"])
    line = error_line(capsys)
    assert code == 2 and "S is colour samples here (RGB, RGBA)" in line, line
    assert line.endswith("(CARE's sample axis S) give Z or T, e.g. --axes 'ZCYX'")


# ----------------------------------------------------------------------------- 2. one image


SAME = "trained on them, the network learns to change nothing"


def gt_folder(tmp_path):
    folder = tmp_path / "base" / "GT"
    folder.mkdir(parents=True)
    for i in range(2):
        tifffile.imwrite(folder / f"{i}.tif", crops(1, seed=i, side=160)[0].astype(np.uint8))
    return folder


@pytest.mark.parametrize("command", [
    ["train", "--arch", "gran"], ["finetune", "--weights", "gran.em_v1"]])
def test_one_folder_as_blurry_and_sharp_is_refused_before_training(tmp_path, capsys,
                                                                   monkeypatch, command):
    gt_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main([*command, "--blurry", "base/GT", "--sharp", "base/GT", "--out",
                 "w.safetensors", "--steps", "2", "--patch", "48", "-q"])
    line = error_line(capsys)
    assert code == 2 and not (tmp_path / "w.safetensors").exists()
    assert line.startswith("microdeblur: error: --blurry 'base/GT' and --sharp 'base/GT' name "
                           "the same files: " + SAME), line


def test_one_file_and_a_copy_of_it_are_refused(tmp_path, capsys, monkeypatch):
    folder = gt_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "copy.tif").write_bytes((folder / "0.tif").read_bytes())
    options = ["--out", "w.safetensors", "--steps", "2", "--patch", "48", "-q"]
    main(["finetune", "--weights", "gran.em_v1", "--blurry", "base/GT/0.tif", "--sharp",
          "base/GT/0.tif", *options])
    assert "--blurry 'base/GT/0.tif' and --sharp 'base/GT/0.tif' are the same file: " \
           + SAME in error_line(capsys)
    main(["finetune", "--weights", "gran.em_v1", "--blurry", "copy.tif", "--sharp",
          "base/GT/0.tif", *options])
    assert "--blurry copy.tif and --sharp 0.tif have identical pixels: " + SAME \
        in error_line(capsys)
    assert not (tmp_path / "w.safetensors").exists()


def test_python_training_on_one_image_is_refused(tmp_path):
    image = crops(1, side=160)[0]
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    config = training.TrainingConfig(steps=2, batch_size=2, patch=32, device="cpu",
                                     checkpoint_dir=str(tmp_path / "ck"))
    words = r"blurry and sharp of 'train' are the same image \(identical pixels\)"
    with pytest.raises(ValueError, match=words):
        training.iter_fit(model, config, (image, image.copy()), None)
    from napari_microdeblur.core.finetune_simple import finetune

    with pytest.raises(ValueError, match="are the same image .identical pixels.: trained on "
                                         "it, a network learns to change nothing"):
        finetune("gran.em_v1", image, image.copy(), steps=2, patch=48, device="cpu",
                 checkpoint_dir=str(tmp_path / "ft"))
    assert not (tmp_path / "ck" / "best.safetensors").exists()


def test_pairs_of_one_image_still_build_and_identity_examples_still_train():
    """Pairs of one image built alone are kept (they are refused only when trained on); a
    stack's in-focus plane paired with itself on purpose (include_focus) is no mistake."""
    image = crops(1)[0]
    (pair,) = data.pairs_from_arrays(image, image, align=False, match_intensity=False)
    np.testing.assert_array_equal(pair.input, pair.target)
    stack = np.stack([ndimage.gaussian_filter(image, s) for s in (2, 1, 0, 1, 2)])
    made = data.pairs_from_stack(stack, focus_plane=2, axes="ZYX", include_focus=True)
    assert data.as_training_data(data.PairedData(made)).pairs == made
    other = data.pairs_from_arrays(ndimage.gaussian_filter(image, 1.5), image)
    assert data.as_training_data(other).pairs == other
    assert MethodSpec("wiener").modality == "auto"  # the default leaves S to the image
