"""Two small fixes (2026-12-26).

`microdeblur info Pos1.ome.tif` of a multi-position OME-TIFF whose OME-XML names the other
positions' files by UUID only said 'axes TYX (guessed)' (--json: axes_stated false), while
deblur read the axes as stated: info checked the dataset's gaps on the whole OME-XML (another
position's UUID-only file refused) before taking the file's own Images, and its fallback to
io.read_image dropped read_image's ``stated``.

A Deblur dock result of the current slice or the field of view was given the scale read at
the run's start and a translate from the input's transform as it was at the run's end: the
input's scale changed during a run put it where neither placement has the plane (a 45-plane
stack, slice Z=10, scale made (0.5, 0.2, 0.2): scale [1, 1, 1], translate [5, 0, 0]). It is
now placed wholly with the placement read at the start, as a whole-stack result is."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.cli_info import describe, text_block
from napari_microdeblur.core import io

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
#: per position: (T, Y, X, pixel size, channel name, time increment), as Micro-Manager saves
POSITIONS = [(3, 32, 32, 0.108, "GFP", 5.0), (2, 40, 48, 0.325, "DAPI", 10.0)]


def _uuid_only_positions(folder: Path, *, contiguous: bool = False,
                         own_split: bool = False) -> list[Path]:
    """One time series per position, each in a file of its own whose full OME-XML names every
    plane's file by UUID only (no FileName); ``own_split``: Pos1's last plane in a file of
    its own (Pos1_1), also by UUID only, so Pos1's own image cannot be read."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = [["Pos0.ome.tif"], ["Pos1.ome.tif", "Pos1_1.ome.tif"] if own_split
              else ["Pos1.ome.tif"]]
    names = [n for files in layout for n in files]
    ids = {n: f"urn:uuid:{uuid.uuid4()}" for n in names}
    rng = np.random.default_rng(0)
    planes: dict[str, list[np.ndarray]] = {n: [] for n in names}
    images = ""
    for i, (files, (t, y, x, px, channel, dt)) in enumerate(zip(layout, POSITIONS)):
        datas = ""
        for k in range(t):
            name = files[min(k * len(files) // t, len(files) - 1)]
            datas += (f'<TiffData FirstT="{k}" IFD="{len(planes[name])}" PlaneCount="1">'
                      f"<UUID>{ids[name]}</UUID></TiffData>")
            planes[name].append((rng.random((y, x)) * 1000 + 100).astype(np.uint16))
        images += (f'<Image ID="Image:{i}" Name="Pos{i}"><Pixels ID="Pixels:{i}" '
                   f'DimensionOrder="XYZCT" Type="uint16" SizeX="{x}" SizeY="{y}" SizeZ="1" '
                   f'SizeC="1" SizeT="{t}" PhysicalSizeX="{px}" PhysicalSizeY="{px}" '
                   f'TimeIncrement="{dt}" TimeIncrementUnit="s"><Channel ID="Channel:{i}:0" '
                   f'Name="{channel}" SamplesPerPixel="1"/>{datas}</Pixels></Image>')
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">{images}</OME>'
    for name in names:
        description = xml.format(ids[name]).encode()
        with tifffile.TiffWriter(folder / name) as tif:
            if contiguous:
                tif.write(np.stack(planes[name]), description=description, metadata=None,
                          photometric="minisblack")
                continue
            for k, plane in enumerate(planes[name]):
                tif.write(plane, description=description if k == 0 else None, metadata=None,
                          contiguous=False)
    return [folder / n for n in names]


# ----------------------------------------------------------------------------- info


@pytest.mark.parametrize("contiguous", [False, True], ids=["pages", "contiguous"])
@pytest.mark.parametrize("position", [0, 1])
def test_info_states_a_position_files_axes_where_the_others_are_named_by_uuid_only(
        tmp_path, capsys, contiguous, position):
    """Was: 'axes TYX (guessed)' and axes_stated false for each position's file."""
    path = _uuid_only_positions(tmp_path, contiguous=contiguous)[position]
    read = io.read_image(path)
    assert read.stated and read.axes == "TYX"  # as deblur and watch read it
    info = describe(str(path))
    t, y, x, px, channel, dt = POSITIONS[position]
    assert info["axes"] == "TYX" and info["axes_stated"] is True and info["axes_note"] is None
    assert info["shape"] == [t, y, x]  # its own position's, not Pos0's
    assert info["pixel_size_um"] == {"X": px, "Y": px}
    assert info["channel_names"] == [channel] and info["time_interval"] == dt
    assert f"shape ({t}, {y}, {x}) uint16, axes TYX (stated by the file)" in text_block(info)
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["axes_stated"] is True


def test_info_of_a_tiff_whose_header_cannot_be_read_keeps_read_image_stated_axes(
        tmp_path, monkeypatch):
    """Was: where info's header reading failed and io.read_image read the file instead, its
    axes were said 'guessed' whatever the file stated."""
    import napari_microdeblur.core.tiff_header as tiff_header

    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 16, 16), np.uint16), imagej=True,
                     metadata={"axes": "ZYX"})
    assert describe(str(path))["axes_stated"] is True

    def unreadable(*args, **kwargs):
        raise ValueError("a header this reader does not know")

    monkeypatch.setattr(tiff_header, "tiff_header", unreadable)
    info = describe(str(path))
    assert io.read_image(path).stated
    assert info["axes"] == "ZYX" and info["axes_stated"] is True


def test_info_still_refuses_a_position_whose_own_planes_are_named_by_uuid_only(
        tmp_path, capsys):
    """The dataset gap of the file's own position is still said, in read_image's words."""
    path = _uuid_only_positions(tmp_path, own_split=True)[1]
    with pytest.raises(ValueError, match="by UUID only") as refused:
        io.read_image(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "by UUID only" in err and str(refused.value).split(": ", 1)[1] in err
    # Pos0's own file reads (its planes are all its own), axes stated
    assert describe(str(tmp_path / "Pos0.ome.tif"))["axes_stated"] is True


# ----------------------------------------------------------------------------- placement


def _crop_layer(placement: dict, data: np.ndarray, offset):
    from napari.layers import Image

    from napari_microdeblur._widgets._layer_data import placed_kwargs

    kwargs = placed_kwargs(placement, offset)
    return Image(data, **{k: kwargs[k] for k in
                          ("scale", "translate", "rotate", "shear", "affine")})


@pytest.mark.parametrize("transform", [{}, {"rotate": 30}, {"shear": [0.3, 0, 0]}],
                         ids=["plain", "rotated", "sheared"])
def test_a_crop_is_placed_with_the_transform_read_at_the_start(transform):
    """Was: pixel 0 went where ``offset`` is in the layer's transform of now, with the
    start's scale: neither where the plane was nor where it is."""
    from napari.layers import Image

    from napari_microdeblur._widgets._layer_data import source_placement, translate_for

    stack = np.zeros((45, 32, 32), np.float32)
    layer = Image(stack, scale=(1, 1, 1), **transform)
    placement = source_placement(layer)
    offset = (10, 4, 6)
    at_start = [layer.data_to_world(np.add(offset, p)) for p in ((0, 0, 0), (0, 27, 25))]
    layer.scale = (0.5, 0.2, 0.2)  # the user fixes the calibration while it runs
    layer.translate = (3, 7, -2)
    crop = _crop_layer(placement, stack[10:11, 4:, 6:], offset)
    assert np.allclose(crop.data_to_world((0, 0, 0)), at_start[0])
    assert np.allclose(crop.data_to_world((0, 27, 25)), at_start[1])  # the whole crop
    assert tuple(crop.scale) == placement["scale"]
    # as with the layer removed during the run (the placement alone)
    gone = dict(placement, source=lambda: None)
    assert np.allclose(translate_for(gone, offset), translate_for(placement, offset))


def test_a_current_slice_result_lands_where_the_plane_was_when_the_run_began(
        make_napari_viewer, qtbot):
    """The scale changed before the run's end is handled, whatever the run's speed: the
    slice sits where plane Z=10 was at the start, with the start's scale, like a whole-stack
    result of the same run settings."""
    from test_widgets import dock, wait_run

    stack = (np.random.default_rng(1).random((45, 48, 48)) * 200).astype(np.float32)
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="zs", scale=(1, 1, 1))
    viewer.dims.set_point(0, 10)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.5")
    w.scope_combo.setCurrentText("current slice")
    corners = [layer.data_to_world(p) for p in ((10, 0, 0), (10, 47, 47))]
    run = w.run()
    assert run is not None
    layer.scale = (0.5, 0.2, 0.2)  # during the run
    wait_run(qtbot, run)
    out = run.layer
    assert out is not None and tuple(out.scale) == (1, 1, 1)
    assert np.allclose(out.data_to_world((0, 0, 0)), corners[0])
    assert np.allclose(out.data_to_world((0, 47, 47)), corners[1])
