"""Out of memory on the CPU (2026-12-27).

1. The command line's advice on running out of memory named --device cpu to a run already on
   the CPU ('--device cpu' given, or 'auto' with no GPU): now only where a GPU's memory ran
   out; on the CPU, or out of the host's memory, the smaller --tile or --batch-size alone.
2. A z-stack run out of memory (CPU or GPU) was retried with smaller tiles from its first
   plane: of 6 planes failing at plane 4, planes 1-3 were all run again (27 tiles redone). Now
   the run goes on from the plane that failed; the planes before it are kept, bit for bit a
   run's without the failure, those from it on a run's at the smaller tile
   (``core.tile_retry``).
3. Review of that retry: the result's ``tile`` was the smaller one with nothing said of the
   planes that ran at the larger (a note now says where the tile changed); and a memory map's
   planes retried were read tile by tile, so where its plane was not read whole for the edge
   fill (``edge_fill._fits``) the fill of the planes retried rang and went uncounted."""

import argparse
import warnings

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur import cli
from napari_microdeblur.cli_words import memory_words
from napari_microdeblur.core import tiling
from napari_microdeblur.core.inference import Method, deblur, iter_deblur
from napari_microdeblur.core.progress import drive

#: torch's words for the host's memory (c10 alloc_cpu.cpp on Linux)
CPU_OOM = ("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
           "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)")
CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has 1.5 GiB free."
PLANES, SIDE = 6, 64
FAILS_AT = 3  # the plane (from 0) whose 64 px tile runs out of memory


def _stack():
    """6 planes of 64 x 64, plane z in [1000 z, 1000 z + 200): a tile tells its plane."""
    rng = np.random.default_rng(0)
    planes = rng.random((PLANES, SIDE, SIDE)) * 200
    return (planes + 1000 * np.arange(PLANES)[:, None, None]).astype(np.float32)


def _mean3(calls, error=None):
    """A 3 x 3 mean (tiles agree where they overlap) counting its tiles per plane; with
    ``error``, a 64 px tile of plane FAILS_AT raises it, as a forward out of memory."""

    def forward(x):
        for tile in x:
            plane = int(float(tile.mean()) // 1000)
            calls.append((plane, tile.shape[-1]))
            if error is not None and plane == FAILS_AT and tile.shape[-1] > 32:
                raise error
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                              count_include_pad=False)

    return Method("mean3", forward=forward, halo=1, normalization="none")


def _run(method, said=None, **options):
    steps = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = drive(iter_deblur(_stack(), method=method, axes="ZYX", overlap=8, **options),
                       steps.append)
    if said is not None:
        said.extend(str(w.message) for w in caught)
    return result, steps


@pytest.fixture
def on_cuda(monkeypatch):
    """A run on 'cuda' here: torch says CUDA is there, the tiles run on the CPU."""
    emptied = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    apply = tiling.iter_tiled_apply
    monkeypatch.setattr(tiling, "iter_tiled_apply",
                        lambda *a, device, **k: apply(*a, device=torch.device("cpu"), **k))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    return emptied


# ------------------------------------------------- 2. a z-stack goes on from the failed plane


@pytest.mark.parametrize("where", ["cpu", "cuda"])
def test_a_stack_out_of_memory_goes_on_from_the_plane_that_failed(where, request):
    error = RuntimeError(CPU_OOM)
    if where == "cuda":
        emptied = request.getfixturevalue("on_cuda")
        error = torch.cuda.OutOfMemoryError(CUDA_OOM)
    expected = deblur(_stack(), method=_mean3([]), axes="ZYX", tile=64, overlap=8,
                      device="cpu")
    calls, said = [], []
    result, steps = _run(_mean3(calls, error), said, tile=64, device=where)
    # each plane before the failure ran once, at 64 px: none run again (was: 3 planes, at 32)
    for plane in range(FAILS_AT):
        assert [c for c in calls if c[0] == plane] == [(plane, 64)]
    assert calls[FAILS_AT] == (FAILS_AT, 64)  # the failure, then its plane at 32 px on
    assert {size for plane, size in calls[FAILS_AT + 1:]} == {32}
    assert sorted({plane for plane, _ in calls[FAILS_AT + 1:]}) == list(range(FAILS_AT,
                                                                            PLANES))
    # the planes kept are the failure-free run's bit for bit (was: plane 0 at 32 px, 4.6e-5
    # off), those from the failed one a run's at 32 px; here that is the failure-free run too
    at_32 = deblur(_stack(), method=_mean3([]), axes="ZYX", tile=32, overlap=8, device="cpu")
    np.testing.assert_array_equal(result.image[:FAILS_AT], expected[:FAILS_AT])
    np.testing.assert_array_equal(result.image[FAILS_AT:], at_32[FAILS_AT:])
    np.testing.assert_array_equal(result.image, expected)
    assert result.tile == (32, 32)  # the last tile; the note says planes 1-3 ran at 64
    # progress: 3 planes of one tile, then 3 of 9, counted once each (was: 6 x 9 = 54)
    assert steps[-1].done == steps[-1].total == FAILS_AT + (PLANES - FAILS_AT) * 9
    if where == "cuda":
        assert emptied == [1]  # the GPU's cache emptied once, for the one retry
    # where the tile changed is said (was: nothing; result.tile alone said (32, 32))
    assert said == ["out of memory at plane 4 of 6: planes 4-6 ran with tile (32, 32), planes "
                    "before it with (64, 64); seams may differ slightly between the two"]


def test_a_plane_failing_part_way_starts_again_alone():
    """A plane out of memory after some of its tiles: its own tiles are run again (its rows
    rewritten), the planes before it are not; progress counts its tiles once at the end."""
    calls, seen = [], {}

    def forward(x):
        plane = int(float(x[0].mean()) // 1000)
        calls.append((plane, x.shape[-1]))
        seen[(plane, x.shape[-1])] = seen.get((plane, x.shape[-1]), 0) + 1
        if plane == FAILS_AT and x.shape[-1] == 32 and seen[(plane, 32)] == 5:
            raise RuntimeError(CPU_OOM)  # the 5th of its 9 tiles at 32 px
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                              count_include_pad=False)

    method = Method("mean3", forward=forward, halo=1, normalization="none")
    expected = deblur(_stack(), method=_mean3([]), axes="ZYX", tile=32, overlap=8,
                      device="cpu")
    result, steps = _run(method, tile=32, device="cpu")
    np.testing.assert_array_equal(result.image, expected)
    assert all(seen[(p, 32)] == 9 for p in range(FAILS_AT))  # kept: run once
    assert seen[(FAILS_AT, 16)] > 0 and (FAILS_AT - 1, 16) not in seen
    assert steps[-1].done == steps[-1].total


def test_a_retry_keeps_the_notes_of_the_planes_before_it(monkeypatch):
    """A classical run (flat planes and edge fills counted): the planes kept are the failure-
    free run's bit for bit, those after it a run's at the smaller tile, and each plane is
    counted once in the notes (the failed plane's fill was counted before it failed)."""
    rng = np.random.default_rng(1)
    stack = (rng.random((PLANES, 96, 96)) * 180 + 20).astype(np.uint8)
    stack[:, :, 80:] = 0  # an aligned stack's fill at the right edge, in every plane
    stack[1] = 7  # an empty plane
    options = dict(method="wiener", psf="gaussian:1.5", balance=0.05, axes="ZYX",
                   overlap=16, device="cpu")

    def notes_and_image(tile):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            image = deblur(stack, tile=tile, **options)
        return sorted(str(w.message) for w in said), image

    notes, whole = notes_and_image(96)
    _, small = notes_and_image(48)
    apply, runs = tiling.iter_tiled_apply, []

    def failing(forward, read, write, plan, **kwargs):
        runs.append(plan.tile)
        if len(runs) == FAILS_AT and plan.tile[-1] > 48:  # the 3rd plane deblurred (not flat)
            raise RuntimeError(CPU_OOM)
        yield from apply(forward, read, write, plan, **kwargs)

    monkeypatch.setattr(tiling, "iter_tiled_apply", failing)
    retried_notes, retried = notes_and_image(96)
    assert runs == [(96, 96), (96, 96), (96, 96), (48, 48), (48, 48), (48, 48)]
    np.testing.assert_array_equal(retried[:FAILS_AT], whole[:FAILS_AT])  # kept
    np.testing.assert_array_equal(retried[FAILS_AT:], small[FAILS_AT:])  # at 48 px from 3
    assert not np.array_equal(whole[FAILS_AT:], small[FAILS_AT:])  # the tile shows
    # '1 of 6 planes' empty, the fill in '5 of 6 planes'; and where the tile changed
    assert sorted(set(retried_notes) - set(notes)) == [
        "out of memory at plane 4 of 6: planes 4-6 ran with tile (48, 48), planes before it "
        "with (96, 96); seams may differ slightly between the two"]
    assert set(notes) < set(retried_notes)


def _failing_at(monkeypatch, fails):
    """``tiling.iter_tiled_apply`` out of memory on its calls (from 0) in ``fails`` (each a
    plane's run), the call's tiles recorded."""
    apply, runs = tiling.iter_tiled_apply, []

    def failing(forward, read, write, plan, **kwargs):
        runs.append(plan.tile)
        if len(runs) - 1 in fails:
            raise RuntimeError(CPU_OOM)
        yield from apply(forward, read, write, plan, **kwargs)

    monkeypatch.setattr(tiling, "iter_tiled_apply", failing)
    return runs


def test_a_memory_maps_planes_retried_keep_their_edge_fill(tmp_path, monkeypatch):
    """A memory map (as an uncompressed TIFF) read whole by its one-tile plan: its fill was
    continued; the planes retried were read tile by tile, and with no room to read one whole
    for its fill (``edge_fill._fits`` False) they rang at it and went uncounted (planes 3-6 of
    6: 'edge fill: 2 of 6 planes', the fill's zeros written as deblurred values)."""
    from napari_microdeblur.core import edge_fill

    rng = np.random.default_rng(2)
    stack = (rng.random((PLANES, 96, 96)) * 180 + 20).astype(np.uint16)
    stack[:, :, 78:] = 0  # 18.8 % of every plane
    np.save(tmp_path / "in.npy", stack)
    mapped = np.load(tmp_path / "in.npy", mmap_mode="r")
    options = dict(method="wiener", psf="gaussian:1.5", balance=0.05, axes="ZYX", overlap=16,
                   device="cpu", output_dtype="input")

    def notes_and_image(image, tile):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            result = deblur(image, tile=tile, **options)
        return [str(w.message) for w in said], result

    _, whole = notes_and_image(stack, 96)
    _, small = notes_and_image(stack, 48)
    monkeypatch.setattr(edge_fill, "_fits", lambda shape, dtype: False)  # a host short of it
    runs = _failing_at(monkeypatch, {2})
    said, retried = notes_and_image(mapped, 96)
    assert runs == [(96, 96)] * 3 + [(48, 48)] * 4
    assert (retried[:, :, 78:] == 0).all()  # was: planes 3-6 rang into the fill
    np.testing.assert_array_equal(retried[:2], whole[:2])
    np.testing.assert_array_equal(retried[2:], small[2:])  # as an in-memory run's at 48 px
    assert any(n.startswith("edge fill: 6 of 6 planes") for n in said), said  # was: 2 of 6


@pytest.mark.parametrize("fails, note", [
    # the first plane: no plane ran with the tile asked
    ({0}, "out of memory with tile (64, 64): all 6 planes ran with tile (32, 32)"),
    # twice in one plane: its last tile alone
    ({2, 3}, "out of memory at plane 3 of 6: planes 3-6 ran with tile (16, 16), planes "
             "before it with (64, 64); seams may differ slightly between the two"),
    # in two planes: three sizes
    ({1, 4}, "out of memory at planes 2, 4 of 6: plane 1 with tile (64, 64), planes 2-3 with "
             "tile (32, 32), planes 4-6 with tile (16, 16); seams may differ slightly between "
             "the tile sizes"),
])
def test_the_note_says_which_planes_ran_with_which_tile(fails, note, monkeypatch):
    runs = _failing_at(monkeypatch, fails)
    said = []
    result, _ = _run(_mean3([]), said, tile=64, device="cpu")
    assert said == [note]
    assert result.tile == runs[-1]


def test_one_image_out_of_memory_says_its_tile(monkeypatch):
    _failing_at(monkeypatch, {0})
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        deblur(_stack()[0], method=_mean3([]), axes="YX", tile=64, overlap=8, device="cpu")
    assert [str(w.message) for w in said] == [
        "out of memory with tile (64, 64): the image ran with tile (32, 32)"]


def test_what_is_no_out_of_memory_is_not_retried():
    calls = []
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        _run(_mean3(calls, RuntimeError("mat1 and mat2 shapes cannot be multiplied")),
             tile=64, device="cpu")
    assert {size for _, size in calls} == {64}


# ------------------------------------------------------------- 1. the command line's advice


def _args(device, **more):
    return argparse.Namespace(device=device, cli_options={
        "tile": "--tile", "batch_size": "--batch-size", "device": "--device"}, **more)


@pytest.mark.parametrize("error", [RuntimeError(CPU_OOM), MemoryError("cannot allocate"),
                                   RuntimeError("out of memory")])
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_on_the_cpu_the_advice_names_no_cpu(error, device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    words = memory_words(error, _args(device))
    assert words.endswith("; try a smaller --tile or --batch-size")  # was: 'or --device cpu'


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError(CUDA_OOM),
                                   RuntimeError("MPS backend out of memory (MPS allocated: "
                                                "17.00 GB)"),
                                   RuntimeError("out of memory")])
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "auto"])
def test_on_a_gpu_the_advice_names_the_cpu(error, device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    words = memory_words(error, _args(device))
    assert words.endswith("; try a smaller --tile or --batch-size or --device cpu")


def test_the_host_out_of_memory_on_a_gpu_run_names_no_cpu(monkeypatch):
    """The host's memory ran out (numpy, torch's CPU allocator) beside a GPU: the CPU would
    need more of it, not less."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for error in (RuntimeError(CPU_OOM), MemoryError("Unable to allocate 8.00 GiB")):
        assert "--device" not in memory_words(error, _args("cuda"))


def test_a_cluster_auto_device_is_the_workers(monkeypatch):
    """'auto' on a cluster is resolved by its workers: only their error's words tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the client's GPU
    args = _args("auto", scheduler="tcp://host:8786")
    assert "--device" not in memory_words("RuntimeError: out of memory", args)
    assert memory_words(CUDA_OOM, args).endswith("or --device cpu")


def test_a_cpu_run_out_of_memory_on_the_command_line(tmp_path, monkeypatch, capsys):
    """The run's own line: every smaller tile tried, then the advice without --device cpu."""
    tifffile.imwrite(tmp_path / "a.tif", (_stack()[:4] / 30).astype(np.uint8))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # 'auto' is the CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    tried = []

    def out_of_memory(forward, read, write, plan, **kwargs):
        tried.append(plan.tile)
        raise RuntimeError(CPU_OOM)
        yield

    monkeypatch.setattr(tiling, "iter_tiled_apply", out_of_memory)
    code = cli.main(["deblur", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o.tif"),
                     "--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.05",
                     "--axes", "ZYX", "--tile", "64", "--overlap", "8"])  # --device auto
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and tried == [(64, 64), (32, 32), (16, 16)]
    assert err.strip().endswith(f"out of memory ({CPU_OOM}); try a smaller --tile or "
                                "--batch-size")
    assert not (tmp_path / "o.tif").exists()
