"""`microdeblur deblur` batches: a --focus-below file with nothing below T is written unchanged
without settling a method (no PSF estimate) and says so; --json lines say what --focus-below
decided and, on a cluster, allocator_tuned; skipped outputs made with other settings are
counted; a batch that stops or has failed files always ends with its summary line."""

import json

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

import napari_microdeblur.cli as cli
import napari_microdeblur.core.cluster as cluster
import napari_microdeblur.core.selective as selective
from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.shown import shown_path

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--balance", "0.05", "--device", "cpu"]
SUMMARY = "microdeblur: {}: {} done, {} skipped (output exists), {} failed"


def _stack(path, soft=(), seed=0):
    """A uint8 ZYX stack of 4 textured 48 x 48 planes, those in ``soft`` blurred."""
    rng = np.random.default_rng(seed)
    planes = [gaussian_filter(rng.random((48, 48)) * 200, 1.0) for _ in range(4)]
    for z in soft:
        planes[z] = gaussian_filter(planes[z], 3.0)
    tifffile.imwrite(path, np.stack(planes).astype(np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    return path


def _plane(path, seed=0):
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, gaussian_filter(rng.random((48, 48)) * 200, 1.0).astype(np.uint8))
    return path


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def settled(monkeypatch):
    """Each call of ``core.selective.settled_method`` (the PSF estimate, the network load)."""
    calls = []
    real = selective.settled_method

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(selective, "settled_method", counted)
    return calls


# ------------------------------------------------------------ 1. nothing below T: unchanged


def test_a_file_with_nothing_below_settles_no_method_and_says_it_is_unchanged(
        tmp_path, settled, capsys):
    src = _stack(tmp_path / "sharp.tif")
    out = tmp_path / "out.tif"
    # psf estimate: what the EM default does, a warning per file and seconds of work
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "1e-9", "--method",
                 "wiener", "--psf", "estimate", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert settled == []
    assert "estimated" not in captured.err
    assert f"{out}: 0 of 4 slices below 1e-09: written unchanged (copied as is, as float32" \
        in captured.out
    assert "deblurred with" not in captured.out
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(src).astype(np.float32))
    record = io.read_image(out).metadata["microdeblur"]
    assert record["method"] is None and "written unchanged" in record["unchanged"]
    assert record["method_spec"]["name"] == "wiener" and "device" not in record
    assert record["focus"]["deblurred"] == 0 and record["focus"]["units"] == 4
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    said = capsys.readouterr().out
    assert "  unchanged: " in said and "deblurred:" not in said  # was: method not recorded


def test_a_file_with_a_unit_below_still_settles_its_method(tmp_path, settled):
    src = _stack(tmp_path / "soft.tif", soft=(1,))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "auto", "-q",
                 *WIENER, "--output-dtype", "input"]) == 0
    assert settled and settled[0].name == "wiener"  # the spec, then the Method it became
    record = io.read_image(out).metadata["microdeblur"]
    assert record["method"] == "wiener" and record["focus"]["selected"] == [[1]]


# ------------------------------------------------------------ 2. --json: the selection


def test_json_lines_say_what_focus_below_decided(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    _stack(folder / "a.tif", soft=(1, 3))
    _stack(folder / "b.tif", seed=1)
    soft, sharp = np.sort(_scores(folder / "a.tif"))[1:3]
    threshold = float(f"{(soft + sharp) / 2:.6g}")  # between the 2 soft planes and the rest
    assert _scores(folder / "b.tif").min() > threshold
    assert main(["deblur", str(folder), "-o", str(out), "--focus-below", str(threshold),
                 "--json", *WIENER]) == 0
    lines = {line["input"].rsplit("/", 1)[-1]: line
             for line in _json_lines(capsys.readouterr().out)}
    a, b = lines["a.tif"], lines["b.tif"]
    assert a["status"] == "ok" and a["method"] == "wiener"
    assert (a["focus_below"], a["threshold"], a["focus_unit"], a["units"],
            a["deblurred_units"]) == (threshold, threshold, "slice", 4, 2)
    assert b["status"] == "ok" and b["method"] is None and b["deblurred_units"] == 0


def test_json_line_of_one_file_with_auto_gives_the_threshold_taken(tmp_path, capsys):
    src = _stack(tmp_path / "a.tif", soft=(2,))
    out = tmp_path / "out.tif"
    assert main(["deblur", str(src), "-o", str(out), "--focus-below", "auto", "--json",
                 *WIENER]) == 0
    (line,) = _json_lines(capsys.readouterr().out)
    focus = io.read_image(out).metadata["microdeblur"]["focus"]
    assert line["focus_below"] == "auto" and line["threshold"] == pytest.approx(
        focus["threshold"])
    assert line["deblurred_units"] == focus["deblurred"] >= 1


def _scores(path):
    from napari_microdeblur.core.focus import focus_score

    return focus_score(tifffile.imread(path), axes="ZYX")


# ------------------------------------------------------------ 3. skipped, other settings


def test_skipped_outputs_made_with_other_settings_are_counted_not_redone(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for i in range(2):
        _plane(folder / f"t{i}.tif", seed=i)
    assert main(["deblur", str(folder), "-o", str(out), "-q", *WIENER]) == 0
    made = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    other = [*WIENER[:3], "gaussian:2", *WIENER[4:]]
    assert main(["deblur", str(folder), "-o", str(out), "--json", *other,
                 "--focus-below", "0.5"]) == 0
    captured = capsys.readouterr()
    assert SUMMARY.format(shown_path(out), 0, 2, 0) in captured.err
    assert "2 skipped outputs were made with other settings than this run's" in captured.err
    assert "PSF gaussian:1 (this run: PSF gaussian:2)" in captured.err
    assert "pass --overwrite to redo them" in captured.err
    for line in _json_lines(captured.out):
        assert line["status"] == "skipped"
        assert line["settings_differ"] == ["psf", "focus_below"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == made  # still skipped

    assert main(["deblur", str(folder), "-o", str(out), "--json", *WIENER]) == 0
    captured = capsys.readouterr()
    assert "other settings" not in captured.err
    assert all("settings_differ" not in line for line in _json_lines(captured.out))


# ------------------------------------------------------------ 4. allocator_tuned, --json


def test_cluster_json_lines_say_allocator_tuned(tmp_path, capsys, monkeypatch):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for i in range(2):
        _plane(folder / f"t{i}.tif", seed=i)

    def fake_cluster(pairs, *, on_record, **_):  # what a worker's record holds
        records = [{"input": str(s), "output": str(t), "notes": [], "method": "wiener",
                    "axes": "YX", "shape": [48, 48], "device": "cpu", "tile": [48, 48],
                    "overlap": [0, 0], "seconds": 0.1, "allocator_tuned": i == 0}
                   for i, (s, t) in enumerate(pairs)]
        for record in records:
            on_record(record)
        return records

    monkeypatch.setattr(cluster, "deblur_files_on_cluster", fake_cluster)
    assert main(["deblur", str(folder), "-o", str(out), "--scheduler", "tcp://127.0.0.1:1",
                 "--json", *WIENER]) == 0
    lines = _json_lines(capsys.readouterr().out)
    assert [line["allocator_tuned"] for line in lines] == [True, False]


# ------------------------------------------------------------ 5. the summary line, always


def test_a_single_plane_under_auto_fails_alone_and_the_batch_is_summed_up(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    _stack(folder / "a_stack.tif", soft=(2,))
    _plane(folder / "b_plane.tif")
    _stack(folder / "c_stack.tif", soft=(0,), seed=2)
    assert main(["deblur", str(folder), "-o", str(out), "--focus-below", "auto", "-q",
                 *WIENER]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "b_plane.tif is a single plane (YX): --focus-below auto" in err
    assert SUMMARY.format(shown_path(out), 2, 0, 1) in err
    assert sorted(p.name for p in out.iterdir()) == ["a_stack_deblurred.tif",
                                                     "c_stack_deblurred.tif"]
    assert "b_plane.tif" in (tmp_path / "out.failures.tsv").read_text()


@pytest.mark.parametrize("error, said, code", [
    (MemoryError("cannot allocate 2 TB"), "out of memory", None),
    (ImportError("no module named bioio"), "no module named bioio", "stopped"),
])
def test_a_file_that_raises_ends_the_batch_with_its_summary(tmp_path, capsys, monkeypatch,
                                                             error, said, code):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for i in range(3):
        _plane(folder / f"t{i}.tif", seed=i)
    real = cli.deblur_one

    def second_fails(source, *args, **kwargs):
        if source.name == "t1.tif":
            raise error
        return real(source, *args, **kwargs)

    monkeypatch.setattr(cli, "deblur_one", second_fails)
    assert main(["deblur", str(folder), "-o", str(out), "-q", *WIENER]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert said in err
    if code is None:  # the file's own: the others done
        assert SUMMARY.format(shown_path(out), 2, 0, 1) in err
    else:  # not a file's own fault: the batch stops, what it did said before the error
        summary = SUMMARY.format(shown_path(out), 1, 0, 0) + "; stopped by the error below"
        assert summary in err and err.index(summary) < err.index(said)
