"""Follow-up of the batch safety fixes (review of 2026-12-17). The check that an input named as
another input's output holds a microdeblur record read every such file's header before any
work, and the skip check read it again (a rerun into the inputs' own folder: 3000 + 3000 files
3.7 s before, 5.9 s with it; a million some 12 minutes before any work). A real full disk
failed with the bare '[Errno 28] No space left on device' (the region writes' own error, below
the writer's words). Per-channel PSF files resampled left no record of it. info's one-channel
refusal said 'channel 2' beside the layer 'FILE (channel 1)'."""

from __future__ import annotations

import errno
import os
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import io
from napari_microdeblur.core.files import batch_pairs, deblur_file

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]


def _tif(path, seed=0, size=16):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (size, size), np.uint8))


def _rerun_folder(tmp_path, count=4):
    """``count`` inputs and their outputs of an earlier run, side by side."""
    for i in range(count):
        _tif(tmp_path / f"t{i}.tif", seed=i)
    assert cli.main(["deblur", str(tmp_path), "-o", str(tmp_path), *WIENER]) == 0
    return tmp_path


def _count_header_reads(monkeypatch) -> list[str]:
    """The names of the files tifffile opens from now on (a header read is one open)."""
    opened, real = [], tifffile.TiffFile

    class Counted(real):
        def __init__(self, arg, *args, **kwargs):
            opened.append(os.path.basename(str(arg)))
            super().__init__(arg, *args, **kwargs)

    monkeypatch.setattr(tifffile, "TiffFile", Counted)
    return opened


# ------------------------------------------------------- earlier outputs: each read at most once

def test_a_rerun_reads_each_earlier_outputs_header_once(tmp_path, capsys, monkeypatch):
    folder = _rerun_folder(tmp_path)
    opened = _count_header_reads(monkeypatch)
    assert cli.main(["deblur", str(folder), "-o", str(folder), *WIENER]) == 0
    assert "0 done, 4 skipped" in capsys.readouterr().err
    # was: 8, the record check's and the skip check's
    assert sorted(opened) == [f"t{i}_deblurred.tif" for i in range(4)]


def test_past_the_cap_earlier_outputs_are_not_read_before_the_work_but_said(
        tmp_path, capsys, monkeypatch):
    from napari_microdeblur import cli_batch
    from napari_microdeblur.core import batch_outputs

    folder = _rerun_folder(tmp_path)
    monkeypatch.setattr(batch_outputs, "READ_AT_MOST", 1)
    opened, before_work, begin = _count_header_reads(monkeypatch), [], cli_batch.BatchLog.begin

    def begun(self, *args):
        before_work.extend(opened)
        return begin(self, *args)

    monkeypatch.setattr(cli_batch.BatchLog, "begin", begun)
    assert cli.main(["deblur", str(folder), "-o", str(folder), *WIENER]) == 0
    err = capsys.readouterr().err
    assert before_work == ["t0_deblurred.tif"]  # was: all 4 before any work
    assert sorted(opened) == [f"t{i}_deblurred.tif" for i in range(4)]  # the skip check's
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "4 inputs have other inputs' output names" in lines[0]
    assert "the first 1 hold microdeblur's record, the other 3 were not read" in lines[0]


def test_with_overwrite_one_past_the_cap_is_checked_before_it_is_replaced(
        tmp_path, capsys, monkeypatch):
    from napari_microdeblur.core import batch_outputs

    folder = _rerun_folder(tmp_path, count=3)
    _tif(folder / "t2_deblurred.tif", seed=9)  # a raw tile now has t2.tif's output name
    raw = (folder / "t2_deblurred.tif").read_bytes()
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    monkeypatch.setattr(batch_outputs, "READ_AT_MOST", 1)
    code = cli.main(["deblur", str(folder), "-o", str(folder), *WIENER, "--overwrite"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert (folder / "t2_deblurred.tif").read_bytes() == raw  # kept, not replaced
    errors = [line for line in err.splitlines() if "microdeblur: error:" in line]
    assert len(errors) == 1 and "t2.tif" in errors[0] and "it was kept, not replaced" in errors[0]
    assert "rename or move one of them" in errors[0]
    # the others were redone: checked where they were replaced
    assert all((folder / f"t{i}_deblurred.tif").stat().st_mtime_ns != before[
        f"t{i}_deblurred.tif"] for i in (0, 1))
    assert "2 done, 0 skipped (output exists), 1 failed" in err


def test_a_cluster_with_overwrite_reads_them_all_before_it_is_asked(tmp_path, capsys,
                                                                    monkeypatch):
    from napari_microdeblur.core import batch_outputs
    from napari_microdeblur.core import cluster as core_cluster

    folder = _rerun_folder(tmp_path, count=3)
    _tif(folder / "t2_deblurred.tif", seed=9)

    def never(*args, **kwargs):
        raise AssertionError("the cluster was sent the batch")

    monkeypatch.setattr(core_cluster, "deblur_files_on_cluster", never)
    monkeypatch.setattr(batch_outputs, "READ_AT_MOST", 0)  # its workers check none
    code = cli.main(["deblur", str(folder), "-o", str(folder), *WIENER, "--overwrite",
                     "--scheduler", "tcp://127.0.0.1:1"])
    assert code == cli.EXIT_ERROR
    assert "is also the output name of input" in capsys.readouterr().err


def test_batch_pairs_alone_still_reads_every_one(tmp_path):
    folder = _rerun_folder(tmp_path, count=2)
    _tif(folder / "t1_deblurred.tif", seed=9)
    with pytest.raises(ValueError, match="t1_deblurred.tif' is also the output name"):
        batch_pairs(sorted(folder.iterdir()), folder)


# ----------------------------------------------------------------------------- a full disk

def _full_disk_at_pwrite(monkeypatch, wrapped=False):
    """os.pwrite, the region writer's deepest call, finding the disk full."""
    def pwrite(fd, data, offset):
        error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if wrapped:  # as a writer that wraps the system's error would
            raise RuntimeError("write failed") from error
        raise error

    monkeypatch.setattr(os, "pwrite", pwrite)


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_full_disk_in_the_region_writes_says_what_to_do(tmp_path, monkeypatch, wrapped):
    _tif(tmp_path / "a.tif", size=32)
    _full_disk_at_pwrite(monkeypatch, wrapped)
    with pytest.raises(OSError) as caught:
        deblur_file(tmp_path / "a.tif", tmp_path / "out.tif", method="wiener",
                    psf="gaussian:1.5", balance=0.01, device="cpu")
    text = str(caught.value)
    assert caught.value.errno == errno.ENOSPC
    assert "out.tif" in text and "free some space or choose another disk" in text, text
    assert "\n" not in text and "[Errno" not in text  # was: '[Errno 28] No space left ...'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]  # no partial file


def test_a_full_disk_in_zarrs_chunk_writes_says_what_to_do(tmp_path, monkeypatch):
    local = pytest.importorskip("zarr.storage._local")
    if not hasattr(local, "_put"):
        pytest.skip("this zarr writes its chunks elsewhere")

    real = local._put

    def put(path, *args, **kwargs):  # a chunk's file, not the metadata written first
        if os.path.basename(str(path)) in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
            return real(path, *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    _tif(tmp_path / "a.tif", size=32)
    monkeypatch.setattr(local, "_put", put)
    with pytest.raises(OSError, match="free some space or choose another disk") as caught:
        deblur_file(tmp_path / "a.tif", tmp_path / "out.zarr", method="wiener",
                    psf="gaussian:1.5", balance=0.01, device="cpu")
    assert caught.value.errno == errno.ENOSPC and "out.zarr" in str(caught.value)


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_cli_says_a_real_full_disks_advice_once(tmp_path, capsys, monkeypatch, wrapped):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(2):
        _tif(src / f"t{i}.tif", seed=i, size=32)
    _full_disk_at_pwrite(monkeypatch, wrapped)
    assert cli.main(["deblur", str(src / "t0.tif"), "-o", str(out / "one.tif"),
                     *WIENER]) == cli.EXIT_ERROR
    one = capsys.readouterr().err.strip()
    assert "free some space or choose another disk" in one and "one.tif" in one, one
    assert cli.main(["deblur", str(src), "-o", str(out), *WIENER]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert err.count("microdeblur: error:") == 1 and "t0.tif" in last
    assert last.count("free some space or choose another disk") == 1, last
    assert "the batch stopped at this file, as the disk is full" in last


def test_a_full_disk_stop_adds_the_advice_a_writer_left_out():
    from napari_microdeblur.core.batch_outputs import full_disk_stop

    stop = full_disk_stop("a.tif", errno.ENOSPC, "[Errno 28] No space left on device")
    assert "No space left on device; free some space or choose another disk; the batch " \
        "stopped at this file" in str(stop)
    worded = full_disk_stop("a.tif", errno.ENOSPC, "cannot write 'o.tif': No space left on "
                            "device; free some space or choose another disk (nothing was "
                            "written)")
    assert str(worded).count("free some space") == 1


# ------------------------------------------------------------ per-channel PSF files' record

def _psf_file(path, dz):
    from napari_microdeblur.core.psf import gaussian_psf

    psf = gaussian_psf((2.0, 1.2, 1.2), size=(15, 9, 9), ndim=3).astype(np.float32)
    tifffile.imwrite(path, psf, imagej=True, resolution=(10, 10),
                     metadata={"unit": "um", "axes": "ZYX", "spacing": dz})
    return str(path)


def _stack(tmp_path, channels=None):
    shape = (9, 24, 24) if channels is None else (9, channels, 24, 24)
    stack = (np.random.default_rng(0).poisson(50, shape) + 100).astype(np.float32)
    path = tmp_path / ("zyx.tif" if channels is None else "zcyx.tif")
    tifffile.imwrite(path, stack, imagej=True, resolution=(10, 10),
                     metadata={"unit": "um", "axes": "ZYX" if channels is None else "ZCYX",
                               "spacing": 0.3})
    return path


def _record_of(source, out, psf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deblur_file(str(source), str(out), method="richardson_lucy", psf=psf, iterations=2,
                    device="cpu")
    return io.read_image(out).metadata["microdeblur"]


def test_per_channel_psf_files_resampled_are_recorded_per_channel(tmp_path):
    fine, same = _psf_file(tmp_path / "fine.tif", 0.1), _psf_file(tmp_path / "same.tif", 0.3)
    record = _record_of(_stack(tmp_path, channels=2), tmp_path / "o.tif", f"{fine};{same}")
    done = record.get("psf_resampled")  # was: not recorded
    assert isinstance(done, list) and len(done) == 2, record
    assert done[0]["psf_um"] == {"Z": 0.1} and done[0]["image_um"] == {"Z": 0.3}
    assert done[0]["shape"] == [15, 9, 9] and done[0]["resampled_shape"][1:] == [9, 9]
    assert done[1] is None  # at the image's voxels: not resampled


def test_one_psf_file_resampled_is_recorded_as_the_docks_is(tmp_path):
    record = _record_of(_stack(tmp_path), tmp_path / "o.tif",
                        _psf_file(tmp_path / "fine.tif", 0.1))
    assert record["psf_resampled"]["psf_um"] == {"Z": 0.1}
    assert record["psf_resampled"]["image_um"] == {"Z": 0.3}
    plain = _record_of(_stack(tmp_path), tmp_path / "p.tif", _psf_file(tmp_path / "s.tif", 0.3))
    assert "psf_resampled" not in plain


# ---------------------------------------------------------- info: one channel's numbering

def test_the_one_channel_refusal_says_how_the_layer_counts(tmp_path):
    from napari_microdeblur.cli_info_rerun import one_channel_refusal

    record = {"source_layer": "hyper (channel 1)", "source_file": "hyper.tif", "axes": "ZYX"}
    line = one_channel_refusal({"file": str(tmp_path / "res.tif")}, record, lambda path: {})
    # was: 'channel 2 of hyper.tif (layer 'hyper (channel 1)')', read as two channels
    assert "from channel 2 of hyper.tif (layer 'hyper (channel 1)', whose name counts " \
        "channels from 0)" in line
    named = one_channel_refusal({"file": str(tmp_path / "res.tif")},
                                {**record, "source_layer": "hyper (GFP)",
                                 "channel_names": ["GFP"]}, lambda path: {})
    assert "(layer 'hyper (GFP)')" in named and "counts" not in named
