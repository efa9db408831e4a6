"""finetune(out=...) from Python keeps a weights file already there unless overwrite=True: a
notebook cell run again had replaced the weights its first run kept."""

import numpy as np
import pytest

from napari_microdeblur.core import registry
from napari_microdeblur.core.atomic_write import OutputExistsError
from napari_microdeblur.core.finetune import finetune
from napari_microdeblur.core.training.loop import Trainer


def _tiny_gran():
    return registry.build_model("gran", registry.get_arch("gran").tiny_config)


def _pair():
    sharp = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    return sharp, sharp * 0.9


@pytest.mark.parametrize("paired", [True, False])
def test_an_existing_out_is_kept_and_refused_before_the_run(tmp_path, monkeypatch, paired):
    monkeypatch.setattr(Trainer, "train_step", lambda self: pytest.fail("trained"))
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"weights kept by an earlier run")
    sharp, blurry = _pair()
    extra = {"sharp": sharp} if paired else {"psf": "gaussian:1.6"}
    with pytest.raises(OutputExistsError, match="exists; choose another name or overwrite=True"):
        finetune((_tiny_gran(), None), blurry, steps=2, out=out, **extra)
    assert out.read_bytes() == b"weights kept by an earlier run"


def test_overwrite_true_replaces_it(tmp_path):
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"old")
    blurry = np.random.default_rng(1).random((160, 160)).astype(np.float32)
    result = finetune((_tiny_gran(), None), blurry, psf="gaussian:1.6", steps=2, minutes=0.05,
                      out=out, overwrite=True)
    assert result is not None
    assert out.read_bytes()[:8] != b"old"
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("license, expected", [(None, "BSD-3-Clause AND NOASSERTION"),
                                               ("CC-BY-4.0", "BSD-3-Clause AND CC-BY-4.0")])
def test_the_adapted_card_records_the_start_and_the_images_licence(tmp_path, license,
                                                                   expected):
    from napari_microdeblur.core.checkpoint import read_card

    blurry = np.random.default_rng(1).random((160, 160)).astype(np.float32)
    out = tmp_path / "adapted.safetensors"
    finetune("gran.fluo_v1", blurry, psf="gaussian:1.6", steps=1, minutes=0.05, out=out,
             **({"license": license} if license else {}))
    assert read_card(out).license == expected


def test_finetune_self_on_the_command_line_takes_the_images_licence(tmp_path):
    import tifffile

    from napari_microdeblur.cli import main
    from napari_microdeblur.core.checkpoint import read_card

    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, np.random.default_rng(1).random((160, 160)).astype(np.float32))
    out = tmp_path / "adapted.safetensors"
    assert main(["finetune", "--self", str(image), "--psf", "gaussian:1.6", "--weights",
                 "gran.fluo_v1", "--out", str(out), "--steps", "1", "--minutes", "0.05",
                 "--license", "CC-BY-4.0", "-q"]) == 0
    assert read_card(out).license == "BSD-3-Clause AND CC-BY-4.0"
