"""Walkthrough 2026-12-16 ("sstem"): a float32 stack of 3 or 4 serial sections saved with a
bare ``tifffile.imwrite`` is tagged planar RGB(A); its axes note suggested only --axes CYX
(the sections take ZYX), and the fine-tune summary named a 16-bit reference scale for
8-bit pairs."""

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, registry
from napari_microdeblur.core.axes import guess_note
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
from napari_microdeblur.core.finetune_request import PairField, StackField, validation_scored


def _sections(n: int, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(n)
    stack = ndimage.gaussian_filter(rng.random((n, 64, 64)), (0, 2, 2)) * 200
    return stack.astype(dtype)


def _planar(tmp_path, n: int, dtype=np.float32):
    path = tmp_path / f"stack{n}.tif"
    with warnings.catch_warnings():  # tifffile's own: it will stop tagging such data RGB
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, _sections(n, dtype))
    return path


@pytest.mark.parametrize("n", [3, 4])
def test_a_float_stack_read_as_planar_rgb_names_zyx_and_cyx(tmp_path, n):
    note = io.read_image(_planar(tmp_path, n)).note
    assert "read as RGB(A) samples" in note  # the guess is kept (the file's tags say RGB)
    assert "if it holds Z planes (a z-stack or serial sections), give axes='ZYX' " \
           "(--axes ZYX on the command line)" in note
    assert "if it holds channels, give axes='CYX'" in note
    assert "float32 colour is rare" in note  # a float image's tag is weak
    assert ("the 4th as alpha, which deblur passes through unchanged" in note) == (n == 4)


def test_an_8_bit_planar_rgb_note_names_both_readings_without_the_float_doubt(tmp_path):
    note = io.read_image(_planar(tmp_path, 3, np.uint8)).note
    assert "--axes ZYX" in note and "--axes CYX" in note
    assert "colour is rare" not in note and "alpha" not in note


def test_deblur_of_a_float_section_stack_says_to_give_zyx(tmp_path, capsys):
    path = _planar(tmp_path, 4)
    assert main(["deblur", str(path), "-o", str(tmp_path / "o.tif"), "--method", "wiener",
                 "--psf", "gaussian:1.6", "-q"]) == 0
    err = capsys.readouterr().err
    assert "serial sections), give axes='ZYX' (--axes ZYX on the command line)" in err
    # as the note says, ZYX deblurs the 4th section too (read as alpha it is copied)
    assert main(["deblur", str(path), "-o", str(tmp_path / "z.tif"), "--method", "wiener",
                 "--psf", "gaussian:1.6", "--axes", "ZYX", "-q"]) == 0
    assert not np.array_equal(tifffile.imread(tmp_path / "z.tif")[3], _sections(4)[3])


def test_finetune_of_a_three_section_pair_says_to_give_zyx(tmp_path, capsys):
    sharp = _planar(tmp_path, 3)
    blurry = tmp_path / "blurry3.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(blurry, ndimage.gaussian_filter(_sections(3), (0, 1.5, 1.5)))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    base = tmp_path / "base.safetensors"
    save_weights(model, base, {"arch": "gran", "config": model.config.model_dump(),
                               "in_channels": 1, "out_channels": 1})
    main(["finetune", "--weights", str(base), "--blurry", str(blurry),
          "--sharp", str(sharp), "--out", str(tmp_path / "o.safetensors"), "--steps", "1",
          "--device", "cpu", "--patch", "32", "--batch", "2", "-q"])
    err = capsys.readouterr().err
    assert "blurry3.tif: axes SYX assumed" in err
    assert "give axes='ZYX' (--axes ZYX on the command line)" in err


def test_the_dock_words_name_both_readings():
    note = guess_note((3, 64, 64), "SYX", give="type {0} in Axes", dtype=np.uint16)
    assert note.endswith("serial sections), type ZYX in Axes; if it holds channels, "
                         "type CYX in Axes")
    assert guess_note((9, 64, 64), "SYX") is None  # not a guess in doubt: unchanged


@pytest.mark.parametrize(("dtype", "words"), [
    (np.uint8, "on the 8-bit reference scale (0-255)"),
    (np.uint16, "each plane on its own reference scale (16-bit: its maximum)"),
    (np.float32, "each plane on its own reference scale (float32: its min-max range)"),
])
def test_validation_is_said_to_be_scored_on_the_given_datas_scale(dtype, words):
    image = np.zeros((8, 8), dtype)
    for field in (PairField("p", image, image), StackField("s", image[None])):
        said = validation_scored(True, [field])
        assert words in said and ("16-bit" in said) == (dtype == np.uint16)


def test_a_mix_of_dtypes_names_each_scale():
    fields = [PairField("a", np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)),
              PairField("b", np.zeros((4, 4), np.uint16), np.zeros((4, 4), np.uint16))]
    assert "own reference scale (8-bit: 0-255; 16-bit: its maximum)" in \
        validation_scored(False, fields)


def test_an_8_bit_finetune_says_its_8_bit_scale(tmp_path):
    rng = np.random.default_rng(1)
    sharp = (ndimage.gaussian_filter(rng.random((96, 128)), 2.0) * 400).clip(0, 255)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    model = registry.build_model("c2f_unet", registry.get_arch("c2f_unet").tiny_config, seed=0)
    req = FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                          base_label="tiny", base_card=None, blurry=blurry.astype(np.uint8),
                          sharp=sharp.astype(np.uint8), patch=32, batch_size=2, lr=1e-3,
                          device="cpu", checkpoint_dir=str(tmp_path / "ck"), steps=1)
    job = iter_finetune(req)
    notes = next(job)
    job.close()
    assert "on the 8-bit reference scale (0-255)" in notes.get("val_scored")
    assert "16-bit" not in notes.get("val_scored")
