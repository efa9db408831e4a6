"""Outputs of microdeblur deblur (and every file-to-file path: batch, watch, cluster file
tasks, deblur_file) record how they were made (core.provenance), where the napari writer puts
the dock's record, and io.read_image gives it back."""

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.checkpoint import sha256_file


@pytest.fixture
def blurred(tmp_path, fluo_u16):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, fluo_u16[:96, :96])
    return path


def _deblur(source, out, *options) -> dict:
    assert main(["deblur", str(source), "-o", str(out), "--device", "cpu", "-q",
                 *options]) == 0
    record = io.read_image(out).metadata.get("microdeblur")
    assert isinstance(record, dict), f"{out.name} carries no record"
    json.dumps(record)  # plain JSON values only
    return record


@pytest.mark.parametrize("name", ["out.tif", "out.ome.tif", "out.zarr", "out.png"])
def test_rl_auto_output_records_method_psf_and_the_iterations_found(tmp_path, blurred, name):
    pytest.importorskip("zarr") if name.endswith(".zarr") else None
    out = tmp_path / name
    record = _deblur(blurred, out, "--method", "richardson_lucy", "--psf", "gaussian:1.6")
    assert record["method"] == "richardson_lucy"
    assert record["psf"] == "gaussian:1.6"
    assert record["method_spec"]["iterations"] == "auto"  # as given ...
    found = record["parameters"]["iterations"]  # ... and as found on the image
    assert isinstance(found, int) and 1 <= found <= 100
    assert record["source_file"] == "cells.tif" and record["axes"] == "YX"
    assert record["weights_sha256"] is None and "T" in record["created"]
    assert record["normalization"]["kind"] == "scale"
    from napari_microdeblur import __version__
    assert record["software_version"] == __version__


def test_each_tiff_flavour_holds_the_record_where_the_napari_writer_puts_it(tmp_path, blurred):
    ij = _deblur(blurred, tmp_path / "ij.tif", "--method", "wiener", "--psf", "gaussian:1.6")
    with tifffile.TiffFile(tmp_path / "ij.tif") as tif:  # Fiji: Image > Show Info
        assert tif.is_imagej
        info = tif.imagej_metadata["Info"]
    assert info.isascii() and json.loads(info)["microdeblur"] == ij
    assert isinstance(ij["parameters"]["balance"], float)  # balance 'auto' as found
    _deblur(blurred, tmp_path / "o.ome.tif", "--method", "wiener", "--psf", "gaussian:1.6")
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as tif:
        image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    assert json.loads(image["Description"])["microdeblur"]["method"] == "wiener"


def test_a_shaped_tif_output_carries_the_record(tmp_path, fluo_u16):
    two = np.stack([fluo_u16[:64, :64], fluo_u16[32:96, 32:96]], axis=-1)  # Y, X, 2 channels
    source = tmp_path / "two.tif"
    tifffile.imwrite(source, two)
    out = tmp_path / "two_out.tif"
    record = _deblur(source, out, "--axes", "YXC", "--method", "richardson_lucy", "--psf",
                     "gaussian:1.2", "--iterations", "5")
    with tifffile.TiffFile(out) as tif:
        assert not tif.is_imagej and tif.shaped_metadata[0]["microdeblur"] == record
    assert record["axes"] == "YXC" and record["parameters"]["iterations"] == 5
    assert record["psf"] == "gaussian:1.2"


def test_network_output_records_the_weights_sha256(tmp_path, blurred, tiny_gran_weights):
    pytest.importorskip("zarr")
    for name in ("net.tif", "net.zarr"):
        record = _deblur(blurred, tmp_path / name, "--method", "gran", "--weights",
                         str(tiny_gran_weights), "--tile", "64")
        assert record["weights_sha256"] == sha256_file(tiny_gran_weights)
        assert record["arch"] == "gran" and record["method"] == "gran"
        assert record["precision"] in ("float32", "bfloat16", "float16")
        assert record["tile"] == [64, 64]


def test_psf_file_is_recorded_by_name_and_sha256(tmp_path, blurred):
    from napari_microdeblur.core.psf import parse_psf

    psf = tmp_path / "bead_psf.tif"
    tifffile.imwrite(psf, parse_psf("gaussian:1.5"))
    record = _deblur(blurred, tmp_path / "o.tif", "--method", "wiener", "--psf", str(psf),
                     "--balance", "0.05")
    assert record["psf"] == "bead_psf.tif" and record["psf_sha256"] == sha256_file(psf)
    assert record["method_spec"]["psf"] == "bead_psf.tif"  # not the array's values


def test_deblurring_an_output_again_records_the_new_run(tmp_path, blurred):
    first = tmp_path / "first.tif"
    _deblur(blurred, first, "--method", "richardson_lucy", "--psf", "gaussian:1.6",
            "--iterations", "7")
    second = _deblur(first, tmp_path / "second.tif", "--method", "wiener", "--psf",
                     "gaussian:1.0", "--balance", "0.1")
    assert second["method"] == "wiener" and second["psf"] == "gaussian:1.0"
    assert second["source_file"] == "first.tif"
    assert second["parameters"] == {"psf": "gaussian:1.0", "balance": 0.1}
    previous = second["previous"]  # the input's record, one step back
    assert previous["method"] == "richardson_lucy" and previous["parameters"]["iterations"] == 7
    assert "previous" not in previous
    # a third run keeps one step back only
    third = _deblur(tmp_path / "second.tif", tmp_path / "third.zarr", "--method", "wiener",
                    "--psf", "gaussian:1.0", "--balance", "0.2")
    assert third["previous"]["method"] == "wiener" and "previous" not in third["previous"]


def test_the_input_record_does_not_leak_into_a_degraded_output(tmp_path, blurred):
    first = tmp_path / "first.tif"
    _deblur(blurred, first, "--method", "wiener", "--psf", "gaussian:1.6", "--balance", "0.1")
    assert main(["degrade", str(first), "-o", str(tmp_path / "d.tif"), "--protocol", "A",
                 "-q"]) == 0
    record = io.read_image(tmp_path / "d.tif").metadata["microdeblur"]  # degrade's own
    assert "degradation" in record and {"method", "previous"}.isdisjoint(record)  # not deblurred


@pytest.mark.parametrize("info", ['{"microdeblur": {"method": "wie', '{"microdeblur": [1, 2]}',
                                  "Bio-Formats says microdeblur here", '"microdeblur"',
                                  '[{"microdeblur": {}}]'])
def test_a_malformed_record_never_stops_reading(tmp_path, info):
    image = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, image, imagej=True, metadata={"axes": "YX", "Info": info})
    data = io.read_image(bad)
    assert "microdeblur" not in data.metadata
    np.testing.assert_array_equal(np.asarray(data.array), image)
    # a well-formed one beside it reads back
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, image, imagej=True,
                     metadata={"axes": "YX", "Info": '{"microdeblur": {"method": "wiener"}}'})
    assert io.read_image(good).metadata["microdeblur"] == {"method": "wiener"}


def test_record_written_by_the_napari_writer_reads_back(tmp_path):
    pytest.importorskip("zarr")
    from napari_microdeblur._writer import write_image_layer

    record = {"method": "richardson_lucy", "axes": "YX", "parameters": {"iterations": 9}}
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    for name in ("w.tif", "w.ome.tif", "w.zarr"):
        write_image_layer(str(tmp_path / name), image,
                          {"name": "x", "metadata": {"microdeblur": record}})
        assert io.read_image(tmp_path / name).metadata["microdeblur"] == record


def test_a_zarr_volume_deblurred_on_a_cluster_records_how(tmp_path):
    distributed = pytest.importorskip("distributed")
    zarr = pytest.importorskip("zarr")
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    src = tmp_path / "vol.zarr"
    volume = (np.random.default_rng(4).random((3, 48, 48)) * 1000).astype(np.uint16)
    with io_write.open_zarr_output(src, volume.shape, volume.dtype, axes="ZYX") as target:
        target[...] = volume
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client,
                               method="richardson_lucy", psf="gaussian:1.5", device="cpu")
    record = io.read_image(tmp_path / "out.zarr").metadata["microdeblur"]
    assert record["method"] == "richardson_lucy" and record["psf"] == "gaussian:1.5"
    assert record["source_file"] == "vol.zarr"
    assert zarr.open_group(str(tmp_path / "out.zarr"), mode="r").attrs["microdeblur"] == record


# ----------------------------------------------------------------------------- review 2


def _no_folder(record, *folders):
    text = json.dumps(record)
    for folder in folders:
        assert str(folder) not in text and str(folder).replace("\\", "\\\\") not in text


def test_per_channel_psf_files_are_recorded_by_name_and_sha256_without_folders(tmp_path):
    from napari_microdeblur.core.psf import parse_psf

    rng = np.random.default_rng(1)
    source = tmp_path / "c2.tif"
    tifffile.imwrite(source, (rng.random((2, 48, 48)) * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "CYX"})
    folder = tmp_path / "alice_private"
    folder.mkdir()
    psfs = [folder / "psfA.tif", folder / "psfB.tif"]
    tifffile.imwrite(psfs[0], parse_psf("gaussian:1.2"))
    tifffile.imwrite(psfs[1], parse_psf("gaussian:1.8"))
    record = _deblur(source, tmp_path / "o.tif", "--method", "richardson_lucy", "--iterations",
                     "3", "--psf", ";".join(map(str, psfs)))
    _no_folder(record, folder)
    assert record["psf"] == "psfA.tif;psfB.tif"
    assert record["method_spec"]["psf"] == "psfA.tif;psfB.tif"
    assert record["psf_sha256"] == [sha256_file(p) for p in psfs]
    # each channel's settings, and no top-level 'parameters' repeating channel 0's
    assert "parameters" not in record
    assert [c["parameters"]["psf"] for c in record["channels"]] == ["psfA.tif", "psfB.tif"]
    models = _deblur(source, tmp_path / "m.tif", "--method", "richardson_lucy", "--iterations",
                     "3", "--psf", "gaussian:1;gaussian:2")
    assert models["psf"] == "gaussian:1;gaussian:2" and "psf_sha256" not in models
    assert "parameters" not in models
    assert [c["parameters"]["psf"] for c in models["channels"]] == ["gaussian:1", "gaussian:2"]
    # each channel's intensity normalisation is its own; a top-level one was channel 0's
    assert "normalization" not in models
    assert all(c["normalization"]["kind"] for c in models["channels"])


def test_a_psf_file_and_weights_file_leave_no_folder_in_the_record(tmp_path, blurred,
                                                                  tiny_gran_weights):
    from napari_microdeblur.core.psf import parse_psf

    psf = tmp_path / "bead_psf.tif"
    tifffile.imwrite(psf, parse_psf("gaussian:1.5"))
    record = _deblur(blurred, tmp_path / "o.tif", "--method", "wiener", "--psf", str(psf),
                     "--balance", "0.05")
    _no_folder(record, tmp_path)
    assert record["psf"] == "bead_psf.tif" and record["psf_sha256"] == sha256_file(psf)
    record = _deblur(blurred, tmp_path / "net.tif", "--method", "gran", "--weights",
                     str(tiny_gran_weights), "--tile", "64")
    _no_folder(record, tmp_path)
    assert record["weights_source"] == "tiny_gran.safetensors"
    assert record["method_spec"]["weights"] == "tiny_gran.safetensors"
    assert record["weights_sha256"] == sha256_file(tiny_gran_weights)


def test_file_names_keep_models_and_names_and_drop_every_folder():
    from napari_microdeblur.core.provenance import file_names

    record = {
        "psf": "/home/alice/psfA.tif;gaussian:2;C:\\Users\\alice\\psfB.tif",
        "weights_source": "gran.fluo_v1",  # a bundled name stays
        "parameters": {"psf": "/home/alice/My PSFs/psf3d.tif (3D, in-focus plane z=3 used for "
                              "every plane; richardson_lucy and wiener deconvolve in 3D)",
                       "balance": 0.1, "note": "/srv/data/x.tif"},
        "previous": {"method_spec": {"weights": "~/nets/w.safetensors"},
                     "source": "\\\\server\\share\\in.tif"},
        "tile": (64, 64), "created": "2026-12-08T10:00:00+00:00", "method": "wiener",
    }
    out = file_names(record)
    assert out["psf"] == "psfA.tif;gaussian:2;psfB.tif"
    assert out["weights_source"] == "gran.fluo_v1"
    assert out["parameters"]["psf"].startswith("psf3d.tif (3D, in-focus plane z=3")
    assert out["parameters"]["psf"].endswith("; richardson_lucy and wiener deconvolve in 3D)")
    assert out["parameters"]["note"] == "x.tif" and out["parameters"]["balance"] == 0.1
    assert out["previous"] == {"method_spec": {"weights": "w.safetensors"}, "source": "in.tif"}
    assert out["tile"] == (64, 64) and out["created"] == record["created"]
    assert "alice" not in json.dumps(out) and "server" not in json.dumps(out)


def _ij_with_info(path, info: str):
    image = (np.random.default_rng(0).random((48, 48)) * 1000).astype(np.uint16)
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "YX", "Info": info})
    return path


def test_a_deeply_nested_input_record_is_no_record_and_the_deblur_runs(tmp_path):
    from napari_microdeblur.core.provenance import parse_record

    deep = "[" * 500 + "]" * 500  # about 1 KB of JSON
    source = _ij_with_info(tmp_path / "hostile.tif",
                           '{"microdeblur": {"method": "x", "junk": ' + deep + "}}")
    record = _deblur(source, tmp_path / "o.tif", "--method", "wiener", "--psf", "gaussian:1.2",
                     "--balance", "0.1")  # it raised RecursionError
    assert record["method"] == "wiener" and "previous" not in record
    assert "microdeblur" not in io.read_image(source).metadata
    # this package's records, and anything up to the limit, still read
    from napari_microdeblur.core.provenance import MAX_RECORD_DEPTH

    nested = {"method": "wiener"}
    for _ in range(MAX_RECORD_DEPTH - 1):
        nested = {"n": nested}
    assert parse_record(json.dumps({"microdeblur": nested})) == nested
    assert parse_record({"n": nested}) is None
    assert parse_record({"method": "x", "bad": object()}) is None  # not JSON
    assert parse_record({1: "x"}) is None


def test_an_input_record_near_the_cap_is_summarised_so_the_output_keeps_its_record(tmp_path):
    from napari_microdeblur.core.provenance import MAX_RECORD_CHARS

    big = {"method": "richardson_lucy", "created": "2026-12-01T09:00:00+00:00",
           "software_version": "0.0.9", "notes": "x"}
    size = len(json.dumps({"microdeblur": big}))
    big["notes"] = "x" * (MAX_RECORD_CHARS - 300 - size)  # just under the cap
    info = json.dumps({"microdeblur": big})
    assert 64_000 < len(info) < MAX_RECORD_CHARS
    source = _ij_with_info(tmp_path / "big.tif", info)
    assert io.read_image(source).metadata["microdeblur"] == big
    record = _deblur(source, tmp_path / "o.tif", "--method", "wiener", "--psf", "gaussian:1.2",
                     "--balance", "0.1")  # it had none: over the cap
    assert record["method"] == "wiener"
    previous = record["previous"]
    assert {k: previous[k] for k in ("method", "created", "software_version")} == {
        k: big[k] for k in ("method", "created", "software_version")}
    assert "notes" not in previous and len(json.dumps(record)) < 128_000
    # a small one is kept whole
    again = _deblur(tmp_path / "o.tif", tmp_path / "o2.tif", "--method", "wiener", "--psf",
                    "gaussian:1.2", "--balance", "0.2")
    assert {k: v for k, v in record.items() if k != "previous"} == again["previous"]


def test_dock_metadata_records_a_psf_array_by_name_not_its_values(tmp_path):
    from types import SimpleNamespace

    from napari_microdeblur._widgets._layer_data import deblur_metadata
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf import parse_psf
    from napari_microdeblur.core.tiling_spec import TilingSpec

    psf = np.ones((31, 65, 65), np.float32) / (31 * 65 * 65)  # a measured 3D PSF layer
    req = SimpleNamespace(
        source_name="/cells", method=MethodSpec("richardson_lucy", psf=psf, iterations=5),
        network=None, scope="whole stack", offset=(0, 0), tiling=TilingSpec(),
        placement={"rgb": False, "ndim": 2, "scale": (1.0, 1.0), "source": lambda: None},
        axes="YX")
    result = SimpleNamespace(parameters={"psf": psf, "iterations": 5}, axes="YX",
                             tile=(64, 64), overlap=(8, 8), device="cpu",
                             normalization=SimpleNamespace(kind="scale", offset=0.0, scale=9.0))
    card = {"source": "/home/alice/nets/mine.safetensors", "sha256": "ab" * 32, "arch": "gran"}
    outcome = SimpleNamespace(result=result, card=card, seconds=1.0, label="richardson_lucy")
    meta = deblur_metadata(req, outcome)
    assert meta["method_spec"]["psf"] == "array" and meta["method_spec"]["iterations"] == 5
    assert len(json.dumps(meta)) < 4000  # the values were 5 MB of JSON
    assert meta["weights_source"] == "mine.safetensors" and "alice" not in json.dumps(meta)
    # the layer's name as the docks find the layer by it, tuples as the docks read them
    assert meta["tile"] == (64, 64) and meta["source_layer"] == "/cells"
    # a PSF file by its name, its folder left out
    tifffile.imwrite(tmp_path / "bead.tif", parse_psf("gaussian:1.5"))
    req.method = MethodSpec("richardson_lucy", psf=str(tmp_path / "bead.tif"))
    result.parameters = {"psf": str(tmp_path / "bead.tif"), "iterations": 5}
    meta = deblur_metadata(req, outcome)
    assert meta["method_spec"]["psf"] == "bead.tif" and meta["parameters"]["psf"] == "bead.tif"
    _no_folder(meta, tmp_path)
    # a PSF layer ('layer:NAME' in the PSF box) by its name, not 'array'
    req.method, req.psf_text = MethodSpec("richardson_lucy", psf=psf, iterations=5), "layer:beads"
    assert deblur_metadata(req, outcome)["method_spec"]["psf"] == "layer:beads"


def test_a_psf_estimated_from_the_image_is_recorded_as_the_model_found(tmp_path):
    """'auto' on EM estimates a PSF per image: the record said only 'estimate', though the
    CLI prints the model to reuse; now it names it (the same kernel: psf_estimate rounds)."""
    from pathlib import Path

    import napari_microdeblur

    sample = Path(napari_microdeblur.__file__).parent / "samples" / \
        "em_celegans_empiar10982_z0017_protocolC.tif"
    assert main(["deblur", str(sample), "-o", str(tmp_path / "o.tif"), "--modality", "em",
                 "-q"]) == 0
    record = io.read_image(tmp_path / "o.tif").metadata["microdeblur"]
    assert record["psf_estimated"] is True
    assert record["psf"].startswith(("gaussian:", "astig:"))
    assert record["parameters"]["psf"] == record["psf"]


def test_per_channel_fields_that_differ_are_not_stated_once_for_all_channels(tmp_path):
    # a wider PSF needs a wider overlap: a top-level overlap would be channel 0's only
    from napari_microdeblur.cli_info import text_block

    rng = np.random.default_rng(2)
    source = tmp_path / "c2.tif"
    tifffile.imwrite(source, (rng.random((2, 96, 96)) * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "CYX"})
    record = _deblur(source, tmp_path / "o.tif", "--method", "richardson_lucy", "--iterations",
                     "3", "--psf", "gaussian:1;gaussian:6", "--tile", "64")
    overlaps = [c["overlap"] for c in record["channels"]]
    assert overlaps[0] != overlaps[1]
    assert "overlap" not in record
    # what the channels share stays at the top level
    assert record["method"] == "richardson_lucy"
    assert all(c["method"] == "richardson_lucy" for c in record["channels"])
    info = {"file": "o.tif", "shape": [2, 96, 96], "dtype": "uint16", "axes": "CYX",
            "axes_stated": True, "axes_note": "", "pixel_size_um": {}, "microdeblur": record}
    assert "deblurred: richardson_lucy" in text_block(info)
    # a record with no method at all (edited by hand) does not claim channels it lacks
    bare = {k: v for k, v in record.items() if k not in ("method", "channels")}
    assert "deblurred: method not recorded" in text_block({**info, "microdeblur": bare})
    per_channel = {k: v for k, v in record.items() if k != "method"}
    assert "deblurred: one method per channel" in text_block({**info, "microdeblur": per_channel})


def test_a_psf_files_sha256_is_read_once_per_record(tmp_path, monkeypatch):
    from napari_microdeblur.core import provenance
    from napari_microdeblur.core.psf import parse_psf

    source, psf = tmp_path / "a.tif", tmp_path / "psf.tif"
    tifffile.imwrite(source, (np.random.default_rng(3).random((48, 48)) * 255).astype(np.uint8))
    tifffile.imwrite(psf, parse_psf("gaussian:1.2"))
    calls, sha256 = [], provenance._sha256
    monkeypatch.setattr(provenance, "_sha256", lambda p: calls.append(p) or sha256(p))
    record = _deblur(source, tmp_path / "o.tif", "--method", "richardson_lucy", "--iterations",
                     "3", "--psf", str(psf))
    assert record["psf_sha256"] == sha256(psf) and record["method_spec"]["psf"] == "psf.tif"
    assert len(calls) == 1
