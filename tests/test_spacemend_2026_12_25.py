"""The free-space check before `microdeblur deblur` computes (review of 2026-12-25).

Its start-up cost grew with every file: a stat of each output's folder, three times over, an
os.listdir of the whole output folder for one output, io.is_zarr of every input, each Zarr
input opened three times (100000 outputs: 9.1 s and 302000 stats before the first file). It
refused outputs that fit: root may write a disk's reserve (f_bfree, not shutil's f_bavail), a
FUSE mount that reports 0 blocks has no size to compare with, and nothing let a user past a
misreported disk (now --no-space-check). Outputs past the headers read were counted as the
smallest read, also those of inputs that could not have been read: a batch whose 2 readable
outputs fitted was refused. A 16-bit RGB PNG was sized as 8-bit, a colour-palette TIFF not at
all."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import free_space, io_write

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]
Usage = namedtuple("Usage", "total used free")


def _tif(path, size=64, seed=0):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.integers(0, 4000, (size, size), dtype=np.uint16))
    return path


def _inside(path, folder: Path) -> bool:
    path = Path(path).resolve()
    return path == folder or folder in path.parents


def _small_disk(monkeypatch, folder: Path, free: int) -> None:
    """``shutil.disk_usage`` says ``free`` bytes for ``folder`` and what is inside it; the
    disk's reserve is not this process's (as for root here: resuid=65534)."""
    real, folder = shutil.disk_usage, Path(folder).resolve()

    def usage(path):
        found = real(path)
        return Usage(found.total, found.used, free) if _inside(path, folder) else found

    monkeypatch.setattr(shutil, "disk_usage", usage)
    monkeypatch.setattr(free_space, "may_write_reserve", lambda device: False, raising=False)


def _statvfs(monkeypatch, folder: Path, *, blocks: int, bfree: int, bavail: int) -> None:
    """``os.statvfs`` (and so ``shutil.disk_usage``) of ``folder`` reports these 4 kB blocks."""
    real, folder = os.statvfs, Path(folder).resolve()

    def statvfs(path):
        if not _inside(path, folder):
            return real(path)
        return SimpleNamespace(f_bsize=4096, f_frsize=4096, f_blocks=blocks, f_bfree=bfree,
                               f_bavail=bavail, f_files=0, f_ffree=0, f_favail=0, f_flag=0,
                               f_namemax=255)

    monkeypatch.setattr(os, "statvfs", statvfs)


def _counted(monkeypatch, owner, name: str, under: Path | None = None) -> list:
    """The calls of ``owner.name`` from now on, by this thread (in a full run, threads other
    tests left behind stat files too), on paths in ``under`` where given."""
    import threading

    calls, real, me = [], getattr(owner, name), threading.get_ident()

    def counted(*args, **kwargs):
        path = args[0] if args else None
        if threading.get_ident() == me and (
                under is None or str(path).startswith(str(under))):
            calls.append(args[:1])
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _png16(path, image: np.ndarray) -> Path:
    """A 16-bit PNG of ``image`` (YXS), written by hand: no writer here keeps 16-bit RGB."""
    height, width, samples = image.shape
    colour = {2: 4, 3: 2, 4: 6}[samples]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in image)
    head = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------- cost: O(folders), not files

def test_a_batch_check_looks_up_each_output_folder_once(tmp_path, monkeypatch):
    from napari_microdeblur.core.batch_outputs import outputs_that_fit

    sources = [_tif(tmp_path / f"t{i}.tif", seed=i) for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    pairs = [(sources[i % 3], out / f"t{i:05d}_deblurred.tif") for i in range(3000)]
    monkeypatch.setattr(free_space, "HEADERS_AT_MOST", 5)
    stats = _counted(monkeypatch, os, "stat", tmp_path)
    lstats = _counted(monkeypatch, os, "lstat", tmp_path)
    assert outputs_that_fit(pairs) == pairs
    # the 5 headers read and the output folder's disk: 3 stats per output (9000) had been
    # taken, its folder's existence, its disk and io.is_zarr of its input
    assert len(stats) + len(lstats) < 40, (len(stats), len(lstats))


def test_one_output_is_looked_up_not_its_folder_listed(tmp_path, monkeypatch):
    from napari_microdeblur.core.batch_outputs import outputs_that_fit

    source = _tif(tmp_path / "a.tif")
    listed = _counted(monkeypatch, os, "listdir")
    outputs_that_fit([(source, tmp_path / "a_deblurred.tif")])
    assert listed == []  # a folder of a million earlier outputs had been listed for one
    _tif(tmp_path / "a_deblurred.tif")  # it exists: skipped, not counted (no refusal)
    _small_disk(monkeypatch, tmp_path, 10)
    outputs_that_fit([(source, tmp_path / "a_deblurred.tif")])
    assert listed == []


def test_a_zarr_input_is_opened_once_for_its_size_and_placement(tmp_path, monkeypatch):
    import zarr

    from napari_microdeblur.core.batch_outputs import outputs_that_fit

    sources = []
    for i in range(2):
        sources.append(tmp_path / f"z{i}.zarr")
        with io_write.open_zarr_output(sources[-1], (32, 32), np.uint16, axes="YX",
                                       pixel_size={"Y": 0.5, "X": 0.5},
                                       metadata={"position": {"Y": 10.0, "X": 20.0}}) as t:
            t[...] = 1
    opened = _counted(monkeypatch, zarr, "open")
    with pytest.warns(UserWarning, match="2 Zarr inputs sit away from 0"):
        outputs_that_fit([(s, tmp_path / f"{s.stem}.tif") for s in sources])
    assert len(opened) == 2  # three times each had been


def test_a_zarr_input_after_many_tiffs_is_still_placed(tmp_path, monkeypatch):
    """The inputs named as image files are not looked at: a Zarr after them is found."""
    from napari_microdeblur.core.batch_outputs import placement_notes

    source = _tif(tmp_path / "a.tif")
    moved = tmp_path / "m.zarr"
    with io_write.open_zarr_output(moved, (32, 32), np.uint16, axes="YX",
                                   pixel_size={"Y": 0.5, "X": 0.5},
                                   metadata={"position": {"Y": 10.0, "X": 20.0}}) as t:
        t[...] = 1
    pairs = [(source, tmp_path / f"o{i}.tif") for i in range(1500)]
    notes = placement_notes([*pairs, (moved, tmp_path / "m.tif")])
    assert len(notes) == 1 and "m.tif' keeps no position" in notes[0]


# ------------------------------------------------------- refusals of outputs that would fit

def test_root_may_write_the_disks_reserve(tmp_path, monkeypatch, capsys):
    source = _tif(tmp_path / "a.tif", size=256)  # 262 kB as float32
    out = tmp_path / "out"
    out.mkdir()
    # 40 kB free to users, 4 MB to root (ext4 keeps 5% for root by default)
    _statvfs(monkeypatch, out, blocks=100_000, bfree=1000, bavail=10)
    monkeypatch.setattr(free_space, "may_write_reserve", lambda device: True, raising=False)
    assert cli.main(["deblur", str(source), "-o", str(out / "a.tif"), *WIENER]) == 0
    assert "free" not in capsys.readouterr().err
    monkeypatch.setattr(free_space, "may_write_reserve", lambda device: False)
    assert cli.main(["deblur", str(source), "-o", str(out / "b.tif"), *WIENER]) == 2
    assert "which has 41 kB free" in capsys.readouterr().err


#: /proc/self/mountinfo's line of an ext4 root (default reserve) and of this machine's disk
#: (its reserve given to nobody: resuid=65534)
EXT4 = "29 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
NOBODYS = ("29 1 253:1 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,"
           "resgid=65534\n")
IDENTITY = "         0          0 4294967295\n"
CAPS_ALL, CAPS_NO_RESOURCE = "CapEff:\t000001ffffffffff\n", "CapEff:\t000001fffeffffff\n"


def test_whether_the_reserve_is_this_process_s_is_decided_as_linux_does():
    from napari_microdeblur.core.free_space import reserve_is_ours

    disk = os.makedev(253, 1)
    assert reserve_is_ours(CAPS_NO_RESOURCE, EXT4, IDENTITY, disk, 0, {0})  # root: resuid 0
    assert not reserve_is_ours(CAPS_NO_RESOURCE, EXT4, IDENTITY, disk, 1000, {1000})
    # root, the reserve given to nobody and CAP_SYS_RESOURCE dropped (a container, as here)
    assert not reserve_is_ours(CAPS_NO_RESOURCE, NOBODYS, IDENTITY, disk, 0, {0})
    assert reserve_is_ours(CAPS_ALL, NOBODYS, IDENTITY, disk, 0, {0})
    assert reserve_is_ours(CAPS_NO_RESOURCE, NOBODYS, IDENTITY, disk, 1000, {1000, 65534})
    # root of a user namespace is some other user of the disk's
    assert not reserve_is_ours(CAPS_ALL, EXT4, "0 100000 65536\n", disk, 0, {0})


def test_a_disk_that_reports_no_blocks_is_not_checked(tmp_path, monkeypatch, capsys):
    source = _tif(tmp_path / "a.tif")
    out = tmp_path / "fuse"
    out.mkdir()
    _statvfs(monkeypatch, out, blocks=0, bfree=0, bavail=0)  # a FUSE mount's statfs
    assert cli.main(["deblur", str(source), "-o", str(out / "a.tif"), *WIENER]) == 0
    assert "free" not in capsys.readouterr().err  # no refusal, no warning


def test_no_space_check_gets_past_a_misreported_disk(tmp_path, monkeypatch, capsys):
    source = _tif(tmp_path / "a.tif", size=128)  # 65.5 kB as float32
    out = tmp_path / "out"
    out.mkdir()
    _small_disk(monkeypatch, out, 1000)
    assert cli.main(["deblur", str(source), "-o", str(out / "a.tif"), *WIENER]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.endswith("write elsewhere (-o); or --no-space-check if this disk's free space "
                        "is misreported"), err
    assert cli.main(["deblur", str(source), "-o", str(out / "a.tif"), *WIENER,
                     "--no-space-check"]) == 0
    assert "free" not in capsys.readouterr().err and (out / "a.tif").is_file()


def test_a_batch_is_not_checked_where_the_caller_says_so(tmp_path, monkeypatch):
    """--no-space-check of a batch: ``cli_batch.folder_pairs`` passes it on."""
    from napari_microdeblur.core.batch_outputs import outputs_that_fit
    from napari_microdeblur.core.free_space import NoRoomError

    sources = [_tif(tmp_path / f"t{i}.tif", seed=i) for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    pairs = [(s, out / f"{s.stem}_deblurred.tif") for s in sources]
    _small_disk(monkeypatch, out, 1000)
    with pytest.raises(NoRoomError):
        outputs_that_fit(pairs)
    assert outputs_that_fit(pairs, space_check=False) == pairs


# ------------------------------------------------ guessed sizes warn, sizes read alone refuse

def _batch_past_the_headers_read(tmp_path, monkeypatch, readable: int, free: int):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    for i in range(2):
        _tif(folder / f"a{i}.tif", seed=i)  # 16.4 kB outputs
    for i in range(6):  # files this check cannot read (a damaged TIFF, a bioio format)
        if i < readable:
            _tif(folder / f"b{i}.tif", seed=i)
        else:
            (folder / f"b{i}.tif").write_bytes(b"II*\x00garbage")
    monkeypatch.setattr(free_space, "HEADERS_AT_MOST", 2)
    _small_disk(monkeypatch, out, free)
    return folder, out


def test_outputs_past_the_headers_read_are_warned_of_not_refused(tmp_path, monkeypatch, capsys):
    folder, out = _batch_past_the_headers_read(tmp_path, monkeypatch, 0, 60_000)
    cli.main(["deblur", str(folder), "-o", str(out), *WIENER])  # exit 2: the 6 unreadable
    err = capsys.readouterr().err
    assert "the 8 outputs this run writes may need about 131 kB (the first 2 inputs' headers " \
           "read" in err and "nothing was computed" not in err
    assert "2 done, 0 skipped (output exists), 6 failed" in err  # had been refused: 0 done
    assert sorted(p.name for p in out.iterdir()) == ["a0_deblurred.tif", "a1_deblurred.tif"]


def test_outputs_whose_read_sizes_alone_cannot_fit_are_refused(tmp_path, monkeypatch, capsys):
    folder, out = _batch_past_the_headers_read(tmp_path, monkeypatch, 6, 30_000)
    assert cli.main(["deblur", str(folder), "-o", str(out), *WIENER]) == 2
    err = capsys.readouterr().err
    assert ("the 8 outputs this run writes need more than the 30 kB free in" in err
            and "(the 2 whose inputs' headers were read alone need about 32.8 kB): nothing was "
            "computed or written" in err), err
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------- sizes read from headers

def test_a_16_bit_colour_png_and_a_colour_palette_tiff_are_sized(tmp_path):
    from napari_microdeblur.core import io
    from napari_microdeblur.core.free_space import input_shape

    rng = np.random.default_rng(0)
    png = _png16(tmp_path / "rgb16.png", rng.integers(0, 60000, (40, 30, 3)).astype(np.uint16))
    assert input_shape(png) == ((40, 30, 3), np.dtype(np.uint16))  # had been uint8
    assert io.read_image(png, keep_alpha=True).array.dtype == np.uint16  # as it is read
    palette = tmp_path / "palette.tif"
    tifffile.imwrite(palette, rng.integers(0, 4, (40, 30), dtype=np.uint8),
                     photometric="palette", colormap=rng.integers(0, 65535, (3, 256),
                                                                  dtype=np.uint16))
    assert input_shape(palette) == ((40, 30, 3), np.dtype(np.uint16))  # had been None
    assert io.read_image(palette).array.shape == (40, 30, 3)
    cut = _tif(tmp_path / "cut.tif", size=128)  # a truncated file is still not sized
    with open(cut, "r+b") as handle:
        handle.truncate(20_000)
    assert input_shape(cut) is None
