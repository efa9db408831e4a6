"""`microdeblur finetune --out W` (and train, --self) without --overwrite keeps a W that
another run wrote while this one trained: the copy onto --out refuses it (core.files.
copy_atomically / checkpoint.save_weights with overwrite=False), where it had replaced it."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import files, registry
from napari_microdeblur.core.checkpoint import save_weights


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((64, 64)), 1.0).astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", sharp)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(sharp, 1.5))
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, tmp_path / "base.safetensors", {"license": "CC0-1.0"})
    return tmp_path


def _finetune(t, *extra):
    return main(["finetune", "--weights", str(t / "base.safetensors"), "--blurry",
                 str(t / "b.tif"), "--sharp", str(t / "s.tif"), "--out", str(t / "ft.safetensors"),
                 "--patch", "32", "--batch", "2", "--steps", "2", "--min-gain", "0",
                 "--device", "cpu", "-q", *extra])


def _another_run_writes_first(monkeypatch):
    """Before this run copies its result onto --out, another run writes that file."""
    real = files.copy_atomically

    def racing(src, dst, **kwargs):
        from pathlib import Path
        if Path(dst).name == "ft.safetensors":  # the --out only, not the names beside it
            Path(dst).write_bytes(b"the other run's weights")
        return real(src, dst, **kwargs)

    monkeypatch.setattr(files, "copy_atomically", racing)


def test_finetune_keeps_an_output_another_run_wrote_meanwhile(pair, monkeypatch, capsys):
    _another_run_writes_first(monkeypatch)
    # 2026-12-23: its own weights are kept beside it (they went with its temporary folder)
    assert _finetune(pair) == 0
    assert (pair / "ft.safetensors").read_bytes() == b"the other run's weights"
    kept = pair / "ft.finished.safetensors"
    assert kept.is_file() and kept.read_bytes() != b"the other run's weights"
    err = capsys.readouterr().err
    assert str(kept) in err and "another run wrote" in err, err


def test_with_overwrite_the_run_replaces_it(pair, monkeypatch):
    _another_run_writes_first(monkeypatch)
    assert _finetune(pair, "--overwrite") == 0
    assert (pair / "ft.safetensors").read_bytes() != b"the other run's weights"
