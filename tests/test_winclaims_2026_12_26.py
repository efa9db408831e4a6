"""Windows, imitated on Linux (portability walkthrough 2026-12-26).

1. A claim file (``core.claims.take``) was made with ``os.open`` without ``O_BINARY``: on Windows
   a text-mode descriptor, its line written '\\r\\n', and ``OutputClaim.release`` compared the
   bytes read back with the '\\n' text it wrote: the claim was never removed. Every batch left
   a ``.NAME.claim`` per output, and ``microdeblur watch`` took its own leftover claim for a
   live run's, never redoing a changed file while it said it did. The imitation is the CRT's:
   a descriptor opened without ``O_BINARY`` (0x8000) turns each written '\\n' into '\\r\\n'.
2. Out of CPU memory on Windows torch says 'DefaultCPUAllocator: not enough memory' (Linux and
   macOS: "can't allocate memory"; c10/core/impl/alloc_cpu.cpp): neither the command line's
   'out of memory' line nor the retry with smaller tiles knew it: a traceback, exit 1."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur import cli, cli_watch
from napari_microdeblur.cli_words import memory_words
from napari_microdeblur.core import claims, positioned_io, tiling
from napari_microdeblur.core.inference import Method, deblur
from napari_microdeblur.core.output_claims import OutputClaim, claim_name, claim_output
from napari_microdeblur.core.partials import host_tag

O_BINARY = 0x8000  # the Windows CRT's flag
WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
#: torch's words on Windows (alloc_cpu.cpp, _aligned_malloc failed)
WINDOWS_OOM = ("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough "
               "memory: you tried to allocate 8589934592 bytes.")
LINUX_OOM = ("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
             "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)")


@pytest.fixture
def windows_text_mode(monkeypatch):
    """``os.open`` / ``os.write`` / ``os.close`` as on Windows: a descriptor opened without
    ``O_BINARY`` is in text mode, where each written b'\\n' becomes b'\\r\\n'."""
    text_fds = set()
    real_open, real_write, real_close = os.open, os.write, os.close

    def open_(path, flags, *args, **kwargs):
        fd = real_open(path, flags & ~O_BINARY, *args, **kwargs)
        (text_fds.discard if flags & O_BINARY else text_fds.add)(fd)
        return fd

    def write(fd, data):
        if fd in text_fds:
            data = bytes(data)
            real_write(fd, data.replace(b"\n", b"\r\n"))
            return len(data)
        return real_write(fd, data)

    def close(fd):
        text_fds.discard(fd)
        return real_close(fd)

    monkeypatch.setattr(os, "O_BINARY", O_BINARY, raising=False)
    # read once at its import, where Linux has no O_BINARY: as Windows' would be
    monkeypatch.setattr(positioned_io, "_BINARY", O_BINARY)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "close", close)
    return text_fds


def _image(path, seed=0):
    tifffile.imwrite(path, np.random.default_rng(seed).integers(0, 255, (32, 32), np.uint8))


def _claims(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".claim"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ------------------------------------------------------------ 1. claims in Windows text mode


def test_the_imitation_writes_crlf_without_o_binary(windows_text_mode, tmp_path):
    """The imitation itself: what the claims' fix must avoid is there to avoid."""
    fd = os.open(tmp_path / "t", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"a\n")
    os.close(fd)
    assert (tmp_path / "t").read_bytes() == b"a\r\n"


def test_a_claim_is_written_in_binary_and_removed_when_its_file_ends(windows_text_mode,
                                                                    tmp_path):
    target = tmp_path / "a_deblurred.tif"
    claim = claim_output(target)
    path = claim_name(target)
    assert path.read_bytes() == claim.text  # was: its '\n' written '\r\n'
    assert b"\r" not in path.read_bytes()
    claim.release()
    assert not path.exists()  # was: left behind, never this run's again


def test_a_crlf_claim_of_this_run_is_still_released(tmp_path):
    """A claim an earlier release wrote on Windows (text mode) is recognised as this run's."""
    target = tmp_path / "a_deblurred.tif"
    path, text = claim_name(target), claims.owner_text()
    path.write_bytes(text.replace(b"\n", b"\r\n"))
    OutputClaim(path, text).release()
    assert not path.exists()
    assert claims.same_claim(text.replace(b"\n", b"\r\n"), text)
    assert not claims.same_claim(None, text)
    assert not claims.same_claim(text.replace(str(os.getpid()).encode(), b"1"), text)


def test_a_dead_runs_crlf_claim_is_taken_over(windows_text_mode, tmp_path):
    """A claim an earlier release left on Windows, its run gone: taken over, made anew in
    binary, and removed at the end (guard: the reading had taken '\\r\\n' already)."""
    target = tmp_path / "a_deblurred.tif"
    path = claim_name(target)
    path.write_bytes(f"{host_tag()} {_dead_pid()} 2026-12-20T10:00:00Z\r\n".encode())
    claim = claim_output(target)
    assert path.read_bytes() == claim.text == claims.owner_text()
    claim.release()
    assert not path.exists()


def test_a_batch_in_windows_text_mode_leaves_no_claims(windows_text_mode, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i, name in enumerate("ab"):
        _image(src / f"{name}.tif", seed=i)
    assert cli.main(["deblur", str(src), "-o", str(out), "-q", *WIENER]) == 0
    assert _claims(out) == []  # was: ['.a_deblurred.tif.claim', '.b_deblurred.tif.claim']
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.tif", "b_deblurred.tif"]


def _log(out) -> list[tuple[str, str]]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return [(r["name"], r["decision"]) for r in csv.DictReader(f)]


def test_watch_in_windows_text_mode_redoes_a_changed_file(windows_text_mode, tmp_path, fluo_u8,
                                                          monkeypatch, capsys):
    """The measured case: a.tif replaced while the watch runs was said to be 'processed again,
    its output replaced' at every scan, and skipped each time as 'being written by another
    run (pid <its own>)': its output stayed the old image's."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "a.tif", fluo_u8)
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 1:  # a.tif done once: replaced by another image
            tifffile.imwrite(src / "a.tif", fluo_u8[::-1].copy(), description="replaced")
        if len(scans) == 4:
            raise KeyboardInterrupt  # Ctrl-C: the watch stops

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    assert cli.main(["watch", str(src), str(out), "--threshold", "1e9", "--settle", "0",
                     *WIENER]) == 130
    err = capsys.readouterr()
    said = err.out + err.err
    assert "being written by another run" not in said
    assert said.count("processed again") == 1  # was: once a scan, never done
    assert _log(out) == [("a.tif", "deblurred"), ("a.tif", "deblurred")]
    assert _claims(out) == []
    expected = tmp_path / "expected.tif"
    assert cli.main(["deblur", str(src / "a.tif"), "-o", str(expected), "-q", *WIENER]) == 0
    np.testing.assert_array_equal(tifffile.imread(out / "a_deblurred.tif"),
                                  tifffile.imread(expected))  # the replaced image's


# ------------------------------------------------------------ 2. Windows' out-of-memory words


@pytest.mark.parametrize("words", [WINDOWS_OOM, LINUX_OOM, "CUDA out of memory. Tried to "
                                   "allocate 2 GiB", "MPS backend out of memory (MPS allocated"
                                   ": 17.00 GB). Tried to allocate 1.00 GB on private pool."])
def test_one_predicate_knows_each_systems_words(words):
    assert tiling.says_out_of_memory(words)
    assert tiling.is_out_of_memory(RuntimeError(words))
    assert memory_words(RuntimeError(words), None).startswith("out of memory (")
    assert memory_words(words, None)  # a worker's message, as text


def test_other_runtime_errors_are_no_out_of_memory():
    error = RuntimeError("Given groups=1, weight of size [8, 1, 3, 3], expected input")
    assert not tiling.is_out_of_memory(error)
    assert memory_words(error, None) is None
    assert not tiling.is_out_of_memory(ValueError(WINDOWS_OOM))  # not torch's


def test_windows_cpu_out_of_memory_retries_with_smaller_tiles(fluo_u8):
    seen = []

    def forward(x):
        seen.append(x.shape[-1])
        if x.shape[-1] > 32:
            raise RuntimeError(WINDOWS_OOM)
        return x

    out = deblur(fluo_u8, method=Method("id", forward=forward, normalization="none"), tile=64,
                 overlap=8, device="cpu")
    np.testing.assert_array_equal(out, fluo_u8.astype(np.float32))
    assert seen[0] == 64 and seen[-1] == 32  # was: the error raised at 64


def _windows_out_of_memory(monkeypatch):
    """A network's forward that runs out of CPU memory, in torch's Windows words."""
    def forward(*args, **kwargs):
        raise RuntimeError(WINDOWS_OOM)

    monkeypatch.setattr(torch.nn.functional, "conv2d", forward)
    monkeypatch.setattr(torch, "conv2d", forward)


ADVICE = "; try a smaller --tile or --batch-size"  # the host's memory: not --device cpu


def test_windows_out_of_memory_is_one_line_with_its_advice(tmp_path, monkeypatch, capsys):
    _image(tmp_path / "a.tif")
    _windows_out_of_memory(monkeypatch)
    code = cli.main(["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"),
                     "--method", "gran.fluo_v1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR  # was: the RuntimeError raised (a traceback, exit 1)
    assert f"microdeblur: error: out of memory ({WINDOWS_OOM}){ADVICE}" in err
    assert not (tmp_path / "o.tif").exists()


def test_windows_out_of_memory_in_a_batch_keeps_its_advice(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _image(src / "a.tif")
    _windows_out_of_memory(monkeypatch)
    assert cli.main(["deblur", str(src), "-o", str(out), "--method", "gran.fluo_v1",
                     "--device", "cpu", "-q"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"a.tif: out of memory ({WINDOWS_OOM}){ADVICE}" in err  # was: the text alone
