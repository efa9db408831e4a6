"""OME-Zarr (NGFF 0.4 and 0.5) as converters write it, through the deblur path: channel names,
time interval and scale kept in .ome.tif and .zarr outputs; pyramids, bioformats2raw layouts
and HCS plates."""

import numpy as np
import pytest

from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")


def without_record(metadata: dict) -> dict:
    """An output's metadata less the record of how it was made (core.provenance)."""
    return {k: v for k, v in metadata.items() if k != "microdeblur"}


RUN = {"method": "wiener", "psf": "gaussian:1.2", "device": "cpu", "tile": 64}


def _axes(names, units):
    kinds = {"t": "time", "c": "channel"}
    return [{"name": n, "type": kinds.get(n, "space"), **({"unit": units[n]} if n in units else {})}
            for n in names]


def _ome_zarr_04(path, data, names, scales, units, omero=None):
    """A 0.4 image as ome-zarr-py writes it: levels 0, 1, ... of ``data`` halved in X and Y."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    datasets = []
    for level, scale in enumerate(scales):
        step = 2 ** level
        group.create_array(str(level), data=np.ascontiguousarray(data[..., ::step, ::step]))
        datasets.append({"path": str(level), "coordinateTransformations": [
            {"type": "scale", "scale": scale}]})
    group.attrs["multiscales"] = [{"version": "0.4", "axes": _axes(names, units),
                                   "datasets": datasets}]
    if omero:
        group.attrs["omero"] = omero
    return group


def _timelapse(rng):
    return rng.integers(0, 4000, size=(2, 2, 24, 24)).astype(np.uint16)  # T, C, Y, X


LABELS = {"channels": [{"label": "DAPI", "color": "0000FF"}, {"label": "GFP", "color": "00FF00"}]}
UNITS = {"t": "minute", "y": "nanometer", "x": "nanometer"}


def test_channel_names_and_minutes_reach_an_ome_tif_output(tmp_path):
    """A deblurred OME-Zarr time-lapse lost its channel names and frame interval in .ome.tif."""
    src = tmp_path / "cells.ome.zarr"
    _ome_zarr_04(src, _timelapse(np.random.default_rng(0)), "tcyx", [[2.5, 1, 65, 65]], UNITS,
                 LABELS)
    data = io.read_image(src)
    assert data.metadata["channel_names"] == ["DAPI", "GFP"]
    assert data.metadata["time_interval"] == pytest.approx(150.0)  # 2.5 minutes
    assert data.pixel_size == pytest.approx({"Y": 0.065, "X": 0.065})
    out = tmp_path / "out.ome.tif"
    deblur_file(src, out, **RUN)
    back = io.read_image(out)
    assert back.metadata["channel_names"] == ["DAPI", "GFP"]
    assert back.metadata["time_interval"] == pytest.approx(150.0)
    assert back.pixel_size == pytest.approx({"Y": 0.065, "X": 0.065})


def test_a_zarr_output_keeps_scale_time_and_channel_names_for_napari(tmp_path):
    src = tmp_path / "cells.ome.zarr"
    _ome_zarr_04(src, _timelapse(np.random.default_rng(1)), "tcyx", [[2.5, 1, 65, 65]], UNITS,
                 LABELS)
    out = tmp_path / "out.zarr"
    deblur_file(src, out, **RUN)
    attrs = zarr.open_group(str(out), mode="r").attrs
    multiscale = attrs["multiscales"][0]
    assert multiscale["version"] == "0.4"
    assert [a.get("unit") for a in multiscale["axes"]] == [
        "second", None, "micrometer", "micrometer"]
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([150.0, 1.0, 0.065, 0.065])
    # what napari-ome-zarr names and colours the channels by
    channels = attrs["omero"]["channels"]
    assert [c["label"] for c in channels] == ["DAPI", "GFP"]
    assert [c["color"] for c in channels] == ["0000FF", "00FF00"]
    back = io.read_image(out)
    assert without_record(back.metadata) == {"time_interval": pytest.approx(150.0),
                             "channel_names": ["DAPI", "GFP"],
                             "channel_colors": ["0000FF", "00FF00"]}


def test_ngff_05_channel_names_are_read_from_the_ome_attributes(tmp_path):
    src = tmp_path / "v05.ome.zarr"
    group = zarr.open_group(str(src), mode="w", zarr_format=3)
    group.create_array("0", data=np.zeros((2, 16, 16), np.uint8))
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": _axes("cyx", {"y": "millimeter", "x": "millimeter"}),
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1, 0.0002, 0.0002]}]}]}],
        "omero": {"channels": [{"label": "mito"}, {"label": "er"}]}}
    data = io.read_image(src)
    assert data.axes == "CYX" and data.pixel_size == pytest.approx({"Y": 0.2, "X": 0.2})
    assert data.metadata == {"channel_names": ["mito", "er"]}


def test_channel_names_of_another_count_than_the_channels_are_left_out(tmp_path):
    src = tmp_path / "odd.ome.zarr"
    omero = {"channels": [{"label": "only one"}]}
    _ome_zarr_04(src, _timelapse(np.random.default_rng(2)), "tcyx", [[1, 1, 1, 1]], {}, omero)
    # a time scale without a unit is no interval (ome-zarr-py writes 1 there)
    assert io.read_image(src).metadata == {}


def test_a_pyramid_is_read_at_full_resolution_with_one_line(tmp_path):
    src = tmp_path / "pyramid.ome.zarr"
    image = np.random.default_rng(3).integers(0, 255, (32, 32)).astype(np.uint8)
    _ome_zarr_04(src, image, "yx", [[0.1, 0.1], [0.2, 0.2], [0.4, 0.4]], {})
    with pytest.warns(UserWarning, match=r"full resolution read \(level 0 of 3, 32 x 32\); "
                      r"a deblurred output holds this level only"):
        io.read_image(src, for_output=True)  # a deblur's read (2026-12-22)
    with pytest.warns(UserWarning, match=r"full resolution read \(level 0 of 3, 32 x 32\)") as said:
        data = io.read_image(src)  # evaluate, info, napari's reader: no output
    assert not any("deblurred output" in str(w.message) for w in said)
    assert data.array.shape == (32, 32) and data.pixel_size == pytest.approx(
        {"Y": 0.1, "X": 0.1})


def _bioformats2raw(path, series):
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    for index in range(series):
        _ome_zarr_04(path / str(index), np.full((8, 8), index + 1, np.uint8), "yx",
                     [[0.2, 0.2]], {"y": "micrometer", "x": "micrometer"})
    return root


def test_a_bioformats2raw_layout_reads_its_first_series(tmp_path):
    """bioformats2raw's output (the usual converter) was refused: 'without multiscales'."""
    src = tmp_path / "converted.zarr"
    _bioformats2raw(src, 1)
    data = io.read_image(src)
    assert data.axes == "YX" and data.pixel_size == pytest.approx({"Y": 0.2, "X": 0.2})
    assert np.asarray(data.array[...]).max() == 1


def test_several_bioformats2raw_series_say_only_the_first_is_read(tmp_path):
    src = tmp_path / "converted.zarr"
    _bioformats2raw(src, 2)
    with pytest.warns(UserWarning, match=r"holds 2 images .*only the first is read"):
        data = io.read_image(src)
    assert np.asarray(data.array[...]).max() == 1
    second = io.read_image(src / "1")  # what the warning says to give
    assert np.asarray(second.array[...]).max() == 2


def test_an_hcs_plate_names_a_field_to_give_and_that_field_reads(tmp_path):
    src = tmp_path / "plate.ome.zarr"
    root = zarr.open_group(str(src), mode="w", zarr_format=2)
    root.attrs["plate"] = {"rows": [{"name": "B"}], "columns": [{"name": "3"}],
                           "wells": [{"path": "B/3", "rowIndex": 0, "columnIndex": 0}]}
    well = root.create_group("B").create_group("3")
    well.attrs["well"] = {"images": [{"path": "0"}]}
    _ome_zarr_04(src / "B" / "3" / "0", np.ones((8, 8), np.uint8), "yx", [[1, 1]], {})
    with pytest.raises(ValueError, match=r"HCS plate.*plate\.ome\.zarr/B/3/0'$") as caught:
        io.read_image(src)
    assert "\n" not in str(caught.value)
    assert io.read_image(src / "B" / "3" / "0").axes == "YX"


def test_an_rgb_zarr_output_has_the_axis_types_ngff_allows(tmp_path):
    """RGB samples typed 'channel' after X: ome-zarr-py (napari-ome-zarr) refuses such axes
    ("'space' axes must come after 'channel'")."""
    out = tmp_path / "rgb.zarr"
    with io_write.open_zarr_output(out, (8, 8, 3), np.uint8, axes="YXS",
                                   pixel_size={"Y": 0.5, "X": 0.5}) as target:
        target[...] = 7
    kinds = [a.get("type") for a in zarr.open_group(str(out), mode="r").attrs[
        "multiscales"][0]["axes"]]
    known = [k for k in kinds if k in ("time", "channel", "space")]
    assert len(kinds) - len(known) <= 1 and known.count("channel") <= 1
    assert "channel" not in kinds or kinds.index("channel") < kinds.index("space")
    assert io.read_image(out).axes == "YXS"


def test_a_zarr_volume_deblurred_on_a_cluster_keeps_channel_names_and_interval(tmp_path):
    """The cluster path opens its own Zarr output: it kept the scale but dropped the names."""
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    src = tmp_path / "cells.ome.zarr"
    _ome_zarr_04(src, _timelapse(np.random.default_rng(2)), "tcyx", [[2.5, 1, 65, 65]], UNITS,
                 LABELS)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, **RUN)
    back = io.read_image(tmp_path / "out.zarr")
    assert back.metadata["channel_names"] == ["DAPI", "GFP"]
    assert back.metadata["time_interval"] == pytest.approx(150.0)
    assert back.pixel_size == pytest.approx({"Y": 0.065, "X": 0.065})


def test_a_zarr_output_of_an_image_without_pixel_size_reads_back_without_one(tmp_path):
    """Unknown sizes are written as scale 1 with no unit; they read back as 1 um."""
    image = np.random.default_rng(5).random((24, 24)).astype(np.float32)
    with io_write.open_zarr_output(tmp_path / "u.zarr", image.shape, image.dtype,
                                   axes="YX") as target:
        target[...] = image
    assert io.read_image(tmp_path / "u.zarr").pixel_size == {}


def test_multiscales_without_datasets_is_one_line_not_a_traceback(tmp_path):
    group = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=np.zeros((8, 8), np.uint8))
    group.attrs["multiscales"] = [{"version": "0.4", "axes": _axes("yx", {})}]
    with pytest.raises(ValueError, match="naming its levels"):
        io.read_image(tmp_path / "bad.zarr")


def test_a_legacy_unitless_z_step_of_1_next_to_smaller_pixels_stays_1_um(tmp_path):
    """Outputs written before units were named: Z 1, Y and X 0.1, no units. The 1 is a size
    there (1 um steps are common), not the 'unknown' of a scale that is all 1."""
    group = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=np.zeros((3, 8, 8), np.uint8))
    group.attrs["multiscales"] = [{"version": "0.4", "axes": _axes("zyx", {}), "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale",
                                                     "scale": [1.0, 0.1, 0.1]}]}]}]
    assert io.read_image(tmp_path / "old.zarr").pixel_size == pytest.approx(
        {"Z": 1.0, "Y": 0.1, "X": 0.1})
