"""`microdeblur evaluate` of a multichannel fluorescence image (2026-12-05): a 2-channel
TCZYX time-lapse (a bright DAPI and a dim GFP channel) got one PSNR for both, 48 unlabelled
per-slice entries for 96 planes (both channels pooled into each, as RGB colours are) and one
data range (the brighter channel's maximum). Now each channel is also scored on its own range
(docs/evaluation.md's rule applied to that channel of the reference), every (T, C, Z) slice is
labelled, and the pooled figures stay as they were."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io_write
from napari_microdeblur.core.metrics import evaluate


def _pair(shape=(2, 2, 3, 48, 48), c=1, seed=0):
    """A uint16 reference whose channel 0 peaks near 4000 and channel 1 near 400, and a
    float32 prediction with noise of its own size in each channel."""
    rng = np.random.default_rng(seed)
    base = rng.random(shape)
    peaks = np.array([4000.0, 400.0]).reshape((1,) * c + (2,) + (1,) * (len(shape) - c - 1))
    ref = np.round(base * peaks).astype(np.uint16)
    noise = rng.normal(0, 1, shape) * peaks * np.array([0.02, 0.1]).reshape(peaks.shape)
    return (ref + noise).astype(np.float32), ref


def _write(tmp_path, pred, ref, axes="TCZYX", names=("DAPI", "GFP")):
    meta = {} if names is None else {"channel_names": list(names)}
    io_write.write_image(tmp_path / "ref.ome.tif", ref, axes=axes, metadata=meta)
    io_write.write_image(tmp_path / "pred.ome.tif", pred, axes=axes, metadata=meta)
    return [str(tmp_path / "pred.ome.tif"), "--reference", str(tmp_path / "ref.ome.tif")]


def _psnr(x, ref, scale):
    return 10 * np.log10(1.0 / np.mean(((x.astype(np.float64) - ref) / scale) ** 2))


def test_each_channel_is_scored_on_its_own_range_and_named(tmp_path, capsys):
    pred, ref = _pair()
    assert main(["evaluate", *_write(tmp_path, pred, ref), "--border", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the pooled figures as before (channel_axis, the whole reference's range)
    pooled = evaluate(pred, ref, border=0, channel_axis=1)
    assert out["psnr"] == pytest.approx(pooled["psnr"], abs=1e-9)
    assert len(out["psnr_per_slice"]) == 6
    assert out["slice_labels"] == [{"T": t, "Z": z} for t in range(2) for z in range(3)]
    names = [ch["name"] for ch in out["channels"]]
    assert names == ["DAPI", "GFP"]
    for c, ch in enumerate(out["channels"]):
        top = float(ref[:, c].max())
        assert ch["reference_scale"] == top and ch["reference_offset"] == 0
        planes = [_psnr(pred[t, c, z], ref[t, c, z], top) for t in range(2) for z in range(3)]
        np.testing.assert_allclose(ch["psnr_per_slice"], planes, atol=1e-6)
        assert ch["psnr"] == pytest.approx(np.mean(planes), abs=1e-6)
        assert "maximum" in ch["scale_rule"]
    # the dim GFP channel, 10 % noise of its own peak, scores ~20 dB on its own range
    # (pooled on DAPI's 10x larger range it would read ~20 dB better)
    assert 15 < out["channels"][1]["psnr"] < 25 < out["channels"][0]["psnr"]


def test_every_slice_is_labelled_with_t_c_z(tmp_path, capsys):
    pred, ref = _pair()
    assert main(["evaluate", *_write(tmp_path, pred, ref), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["per_slice"]
    assert len(rows) == 2 * 2 * 3
    assert [(r["T"], r["C"], r["Z"]) for r in rows] == [
        (t, c, z) for t in range(2) for c in range(2) for z in range(3)]
    assert {r["channel"] for r in rows if r["C"] == 1} == {"GFP"}
    one = evaluate(pred[1, 1, 2], ref[1, 1, 2], border=16,
                   ref_scale=(0.0, float(ref[:, 1].max())))
    row = next(r for r in rows if (r["T"], r["C"], r["Z"]) == (1, 1, 2))
    assert row["psnr"] == pytest.approx(one["psnr"], abs=1e-6)
    assert row["ssim"] == pytest.approx(one["ssim"], abs=1e-6)


def test_text_shows_channels_and_a_labelled_table(tmp_path, capsys):
    pred, ref = _pair()
    assert main(["evaluate", *_write(tmp_path, pred, ref, names=None)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("All channels together")
    # unnamed channels numbered from 1, as info numbers them (2026-12-10)
    assert lines[2].startswith("  channel 1: PSNR") and lines[3].startswith("  channel 2: PSNR")
    assert lines[5].split() == ["T", "C", "Z", "PSNR", "(dB)", "SSIM"]
    assert lines[6].split()[:4] == ["0", "channel", "1", "0"]
    assert len(lines) == 6 + 12


def test_a_2d_multichannel_image_gets_channels_and_no_slices(tmp_path, capsys):
    pred, ref = _pair((2, 48, 48), c=0)
    assert main(["evaluate", *_write(tmp_path, pred, ref, axes="CYX"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [ch["name"] for ch in out["channels"]] == ["DAPI", "GFP"]
    assert out["per_slice"] == [] and "slice_labels" not in out


def test_a_constant_channel_uses_the_whole_range_and_others_still_score(tmp_path, capsys):
    pred, ref = _pair()
    ref[:, 1] = 0
    assert main(["evaluate", *_write(tmp_path, pred, ref), "--json"]) == 0
    channels = json.loads(capsys.readouterr().out)["channels"]
    assert channels[1]["reference_scale"] == float(ref.max())
    assert "constant" in channels[1]["scale_rule"]
    assert channels[0]["reference_scale"] == float(ref[:, 0].max())


def test_channels_named_in_another_order_are_warned(tmp_path, capsys):
    pred, ref = _pair()
    args = _write(tmp_path, pred, ref)
    io_write.write_image(tmp_path / "pred.ome.tif", pred, axes="TCZYX", overwrite=True,
                         metadata={"channel_names": ["GFP", "DAPI"]})
    assert main(["evaluate", *args]) == 0
    assert "GFP, DAPI" in capsys.readouterr().err


def test_match_labels_the_planes_it_keeps(tmp_path, capsys):
    pred, ref = _pair((2, 10, 48, 48), c=0)
    pred = np.roll(pred, 2, axis=1)  # two planes off in Z: --match leaves two out
    assert main(["evaluate", *_write(tmp_path, pred, ref, axes="CZYX"), "--match",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kept = out["match"]["planes"]
    zs = [r["Z"] for r in out["per_slice"] if r["C"] == 0]
    assert zs == list(range(*kept)) and len(zs) < 10
    assert [lab["Z"] for lab in out["slice_labels"]] == zs


def test_single_channel_and_rgb_keep_their_figures(tmp_path, capsys):
    rng = np.random.default_rng(1)
    ref = (rng.random((3, 48, 48)) * 1000).astype(np.uint16)
    pred = (ref + rng.normal(0, 20, ref.shape)).astype(np.float32)
    tifffile.imwrite(tmp_path / "r.tif", ref, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "p.tif", pred, metadata={"axes": "ZYX"})
    assert main(["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["psnr"] == pytest.approx(evaluate(pred, ref)["psnr"], abs=1e-9)
    assert "channels" not in out and out["slice_labels"] == [{"Z": z} for z in range(3)]
    rgb = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "r.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "p.tif", rgb[::-1].copy(), photometric="rgb")
    assert main(["evaluate", str(tmp_path / "p.tif"), "--reference", str(tmp_path / "r.tif"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["psnr"] == pytest.approx(evaluate(rgb[::-1], rgb, channel_axis=-1)["psnr"])
    assert "channels" not in out


def test_identical_channels_print_strict_json(tmp_path, capsys):
    _, ref = _pair()
    assert main(["evaluate", *_write(tmp_path, ref, ref), "--json"]) == 0
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    out = json.loads(text)
    assert out["identical"] is True and out["channels"][0]["psnr"] is None
    assert all(r["psnr"] is None for r in out["per_slice"])
