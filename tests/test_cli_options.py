"""The CLI checks its options before it reads or writes anything (MethodSpec/TilingSpec.check),
runs the network a weights file describes, and `watch` survives a failing file."""

import csv

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import deblur

RL = ["--method", "richardson_lucy", "--psf", "gaussian:1.6", "--iterations", "5",
      "--device", "cpu", "-q"]


@pytest.fixture
def image_file(tmp_path, fluo_u8):
    path = tmp_path / "in" / "a.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, fluo_u8)
    return path


BAD = [
    (["--batch-size", "0"], "--batch-size 0"),
    (["--tile", "0"], "--tile 0"),
    (["--iterations", "0"], "--iterations 0"),
    (["--iterations", "many"], "--iterations 'many' must be an integer >= 1 or 'auto'"),
    (["--balance", "0"], "--balance 0"),
    (["--balance", "lots"], "--balance 'lots' must be > 0 or 'auto'"),
    (["--weights", "{tmp}/missing.safetensors"], "missing.safetensors"),
    (["--psf", "gaussian:0"], "psf"),
    (["--noise-scale", "0"], "--noise-scale 0"),
    (["--noise-scale", "2"], "--noise-scale applies to PSF-aware networks"),
]
if not torch.cuda.is_available():
    BAD.append((["--device", "cuda"], "CUDA is not available"))


@pytest.mark.parametrize("extra,message", BAD)
@pytest.mark.parametrize("command", ["deblur", "watch"])
def test_bad_options_fail_in_one_line_before_anything_is_written(
    tmp_path, image_file, capsys, command, extra, message
):
    out = tmp_path / "out"
    out.mkdir()
    extra = [a.format(tmp=tmp_path) for a in extra]
    target = [str(image_file), "-o", str(out / "a.tif")] if command == "deblur" else [
        str(image_file.parent), str(out), "--threshold", "1e9", "--once", "--settle", "0"]
    assert main([command, *target, *RL, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("microdeblur: error:")
    assert message in err
    assert list(out.iterdir()) == []  # no output, and watch wrote no log


def test_weights_file_without_method_runs_its_network(tmp_path, image_file, fluo_u8):
    from napari_microdeblur.core import registry, weights

    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    path = tmp_path / "tiny.safetensors"
    weights.save_weights(model, path, {"license": "BSD-3-Clause",
                                       "training_data": "none: random weights for a test"})
    out = tmp_path / "net.tif"
    assert main(["deblur", str(image_file), "-o", str(out), "--weights", str(path),
                 "--tile", "64", "--device", "cpu", "-q"]) == 0
    expected = deblur(fluo_u8, method=weights.load_model(path)[0], tile=64, device="cpu")
    np.testing.assert_allclose(tifffile.imread(out), expected, rtol=1e-5, atol=1e-4)


def _rows(out):
    with open(out / "microdeblur_watch.csv", newline="") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def test_watch_logs_a_runtime_error_and_goes_on(tmp_path, image_file, fluo_u8, monkeypatch,
                                                capsys):
    from napari_microdeblur.core import files

    tifffile.imwrite(image_file.parent / "b.tif", fluo_u8)
    real = files.iter_deblur_file

    def failing(source, output, **options):
        if source.name == "a.tif":
            raise RuntimeError("out of memory on a.tif")
        return real(source, output, **options)

    monkeypatch.setattr(files, "iter_deblur_file", failing)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["watch", str(image_file.parent), str(out), "--threshold", "1e9", "--once",
                 "--settle", "0", *RL]) == 2
    rows = _rows(out)
    assert rows["a.tif"]["decision"] == "failed"
    assert rows["b.tif"]["decision"] == "deblurred" and (out / "b_deblurred.tif").exists()
    assert "out of memory on a.tif" in capsys.readouterr().err


def test_watch_does_not_call_an_earlier_output_unreadable(tmp_path, image_file, capsys):
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "a_deblurred.tif"
    tifffile.imwrite(earlier, np.zeros((4, 4), np.float32))  # an earlier run, not logged
    assert main(["watch", str(image_file.parent), str(out), "--threshold", "1e9", "--once",
                 "--settle", "0", *RL]) == 0
    assert _rows(out)["a.tif"]["decision"] == "exists"
    np.testing.assert_array_equal(tifffile.imread(earlier), np.zeros((4, 4), np.float32))
    assert "unreadable" not in capsys.readouterr().err
