"""One PSF per channel (core.channel_psfs): psf='A;B' deblurs channel i of C with source i, by
Richardson-Lucy, Wiener, 3D RL and the PSF-aware network 'auto' picks, in the Python API and
the CLI; a count other than C's size, an image without C and mixed 2D/3D PSFs are
refused before any work; per-channel PSFs beat one shared PSF on a DAPI/mCherry-like image."""

import warnings

import numpy as np
import pytest
import tifffile
from _scripts import load_script

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import deblur, prepare_deblur, spec_for_image
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import is_psf_model, parse_psf
from napari_microdeblur.core.psf_scale import psf_scale_note

W = "widefield:na=1.4,wavelength={},pixel=0.065"
PER = f"{W.format(0.46)};{W.format(0.61)}"


def _benchmark():
    """benchmarks/channel_psfs.py, whose synthetic image and PSNR the figure is measured with."""
    return load_script("benchmarks/channel_psfs.py", "channel_psfs_benchmark", on_path=False)


# measured (benchmarks/results/channel_psfs.json, noise seeds 0-3; here seed 0): RL 30 it.
# +1.36..+1.45 dB on channel 1 and +0.88..+0.96 on channel 2; Wiener balance 0.01 +0.20..+0.25
# and +0.56..+0.60
@pytest.mark.parametrize("method, options, least_gain", [
    ("richardson_lucy", {"iterations": 30}, (0.5, 0.5)),
    ("wiener", {"balance": 0.01}, (0.05, 0.3)),
])
def test_per_channel_psfs_beat_one_shared_psf(method, options, least_gain):
    bench = _benchmark()
    image, truth = bench.two_channels(0)
    _psnr = bench.psnr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = deblur(image, method=method, axes="CYX", psf=PER, **options)
        shared = deblur(image, method=method, axes="CYX", psf=W.format(0.52), **options)
    assert own.shape == image.shape
    for c in range(2):
        gain = _psnr(own[c], truth[c]) - _psnr(shared[c], truth[c])
        assert gain > least_gain[c], (c, gain)


@pytest.mark.parametrize("axes, shape, method, psfs", [
    ("CYX", (2, 48, 40), "richardson_lucy", ["gaussian:1.0", "gaussian:2.2"]),
    ("YXC", (40, 48, 3), "wiener", ["gaussian:1.0", "disk:2", "gaussian:1.6"]),
    ("TCYX", (2, 2, 40, 40), "richardson_lucy", ["gaussian:1.0", "gaussian:2.2"]),
])
def test_each_channel_is_deblurred_with_its_own_psf(axes, shape, method, psfs):
    image = np.random.default_rng(0).random(shape, dtype=np.float32) * 100
    options = {"iterations": 10} if method == "richardson_lucy" else {"balance": 0.02}
    got = deblur(image, method=method, axes=axes, psf=";".join(psfs), **options)
    c = axes.index("C")
    assert got.shape == image.shape and got.dtype == np.float32
    for i, psf in enumerate(psfs):
        alone = deblur(np.take(image, i, axis=c), method=method, axes=axes.replace("C", ""),
                       psf=psf, **options)
        np.testing.assert_allclose(np.take(got, i, axis=c), alone, rtol=1e-5, atol=1e-3)
    assert not np.allclose(np.take(got, 0, axis=c), np.take(got, 1, axis=c))


def test_richardson_lucy_in_3d_with_a_3d_psf_per_channel():
    stack = np.random.default_rng(1).random((2, 12, 40, 40), dtype=np.float32)
    psfs = [f"widefield:na=1.2,wavelength={w},pixel=0.1,nz=5,dz=0.3,size=11" for w in (0.46, 0.6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pixel-size lines
        got = deblur(stack, method="richardson_lucy", axes="CZYX", psf=";".join(psfs),
                     iterations=5)
        for i, psf in enumerate(psfs):
            alone = deblur(stack[i], method="richardson_lucy", axes="ZYX", psf=psf, iterations=5)
            np.testing.assert_allclose(got[i], alone, rtol=1e-5, atol=1e-4)


def test_auto_runs_the_psf_aware_network_with_each_channels_psf():
    image = np.random.default_rng(2).random((2, 64, 64), dtype=np.float32) * 50
    psfs = ["gaussian:1.2", "gaussian:2.4"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_deblur(image, "CYX", MethodSpec("auto", psf=";".join(psfs)))
        got = prepared.run().image
        for i, psf in enumerate(psfs):
            alone = deblur(image[i], method="auto", axes="YX", psf=psf, device="cpu")
            np.testing.assert_allclose(got[i], alone, rtol=1e-4, atol=1e-3)
    assert not prepared.method.is_classical


@pytest.mark.parametrize("axes, shape, psf, words", [
    ("CYX", (2, 32, 32), "gaussian:1;gaussian:2;gaussian:3",
     "psf gives 3 PSFs (one per channel, separated by ';') but the image's C axis has 2 "
     "channels; give 2 PSFs, in channel order"),
    ("ZYX", (2, 32, 32), "gaussian:1;gaussian:2",
     "but axes ZYX have no channel axis C; give the axes with C (e.g. --axes CYX"),
    ("YX", (32, 32), "gaussian:1;gaussian:2", "have no channel axis C"),
    ("YXS", (32, 32, 3), "gaussian:1;gaussian:2",
     "but the RGB image (axes YXS) has 3 colours; give 3 PSFs, in R;G;B order"),
    ("CZYX", (2, 8, 32, 32),
     "gaussian:1;widefield:na=1.2,wavelength=0.5,pixel=0.1,nz=5,dz=0.3,size=11",
     "psf: channel 1's PSF (gaussian:1) is 2D but channel 2's"),
    ("CYX", (3, 32, 32), "gaussian:1;;gaussian:2", "channel 2's PSF is empty"),
    ("CYX", (2, 32, 32), "gaussian:1;gaussian:9",
     "channel 2 of psf: the PSF 'gaussian:9' is 73 x 73 px, larger than the image"),
])
def test_bad_per_channel_psfs_are_refused_in_one_line_before_any_work(axes, shape, psf, words,
                                                                     monkeypatch):
    from napari_microdeblur.core import inference

    monkeypatch.setattr(inference, "_run", lambda *a, **k: pytest.fail("work was done"))
    # nothing is settled on channel 1 before channel 2's PSF is refused
    monkeypatch.setattr(inference, "compute_normalization",
                        lambda *a, **k: pytest.fail("a channel was prepared"))
    image = np.ones(shape, dtype=np.float32)
    with pytest.raises(ValueError) as caught:
        prepare_deblur(image, axes, MethodSpec("richardson_lucy", psf=psf, iterations=5))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_deblurs_each_channel_with_its_psf(tmp_path, capsys):
    image, _ = _benchmark().two_channels(0, n=64)
    source, out = tmp_path / "cyx.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, image)
    code = main(["deblur", str(source), "-o", str(out), "--axes", "CYX", "--psf", PER,
                 "--method", "richardson_lucy", "--iterations", "10"])
    assert code == 0, capsys.readouterr().err
    written = tifffile.imread(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = deblur(image, method="richardson_lucy", axes="CYX", psf=PER, iterations=10)
    assert written.shape == image.shape
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-3)


def test_the_cli_refuses_a_count_mismatch_and_writes_nothing(tmp_path, capsys):
    source, out = tmp_path / "cyx.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, np.ones((3, 32, 32), dtype=np.float32), photometric="minisblack")
    code = main(["deblur", str(source), "-o", str(out), "--axes", "CYX", "--psf", PER,
                 "--method", "wiener"])
    err = capsys.readouterr().err
    assert code != 0 and "C axis has 3 channels; give 3 PSFs" in err and not out.exists()


def test_the_separator_does_not_split_a_file_or_a_single_model(tmp_path):
    from napari_microdeblur.core.channel_psfs import channel_sources

    named = tmp_path / "psf;v2.tif"
    tifffile.imwrite(named, parse_psf("gaussian:1.5"))
    assert channel_sources(str(named)) is None
    assert MethodSpec("wiener", psf=str(named)).check().psf_kernel().shape == (13, 13)
    assert channel_sources(W.format(0.5)) is None and is_psf_model(W.format(0.5))
    assert channel_sources(PER) == [W.format(0.46), W.format(0.61)] and not is_psf_model(PER)
    assert MethodSpec("wiener", psf=PER).check().psf_kernel() is None
    # four optics models with their keys are longer than a file name may be (255 bytes)
    long = ";".join(f"{W.format(w)},ni=1.515,ns=1.33,depth=2.5" for w in (0.46, 0.52, 0.58, 0.67))
    assert len(long) > 255 and len(channel_sources(long)) == 4


def test_pixel_size_lines_name_each_channel():
    note = psf_scale_note(f"{W.format(0.46)};gaussian:2", {"Y": 0.1, "X": 0.1}, "CYX")
    assert note.startswith("channel 1: psf ") and "give pixel=0.1" in note
    assert "channel 2" not in note


def test_one_psf_paths_refuse_per_channel_psfs_in_one_line():
    image = np.ones((2, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match="gives one PSF per channel, which microdeblur deblur"):
        spec_for_image(MethodSpec("wiener", psf="gaussian:1;gaussian:2"), image, "CYX")


def test_progress_counts_the_tiles_of_every_channel():
    image = np.random.default_rng(3).random((3, 40, 40), dtype=np.float32)
    prepared = prepare_deblur(image, "CYX", MethodSpec("wiener", psf="gaussian:1;disk:2;"
                                                       "gaussian:2", balance=0.02))
    records = []
    result = prepared.run(callback=records.append)
    assert [r.done for r in records] == list(range(1, len(records) + 1))
    assert all(r.total == len(records) for r in records)
    assert [r.plane for r in records] == [(0,), (1,), (2,)]
    assert result.parameters["psf"] == "gaussian:1;disk:2;gaussian:2"
    assert [c["psf"] for c in result.parameters["channels"]] == ["gaussian:1", "disk:2",
                                                                 "gaussian:2"]


def test_progress_names_planes_in_the_image_s_axis_order():
    """ZCYX: a record's plane is (z, c), as for any other run of that image ((c, z) before)."""
    from napari_microdeblur.core.inference import prepare_deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tiling_spec import TilingSpec

    image = np.random.default_rng(2).random((3, 2, 24, 24), dtype=np.float32)
    spec = MethodSpec("richardson_lucy", psf="gaussian:1.0;gaussian:2.0", iterations=2)
    prepared = prepare_deblur(image, "ZCYX", spec, TilingSpec(device="cpu"))
    planes, run = [], prepared.iter_run()
    while True:
        try:
            planes.append(next(run).plane)
        except StopIteration:
            break
    assert sorted(set(planes)) == [(z, c) for z in range(3) for c in range(2)]
    assert planes[:3] == [(0, 0), (1, 0), (2, 0)]  # channel 1 first, each of its planes
