"""From a walkthrough of runs that overlap or were cut short (2026-12-23):

1. a watch log whose last row was cut off (power loss, a full disk) counted that file as done
   for good (its decision read 'de'), and the next row was appended onto the cut one, so a
   second file's row was lost too: the cut row is not counted (one warning, the file processed
   again) and the next row starts a line of its own;
2. a fine-tune killed while writing its first last.pt left best.* and a stale temporary file:
   --resume said 'no last.pt', a new run 'resume it': one consistent way out, and the stale
   temporary file (this host, its process gone) removed;
3. two runs could use one --checkpoint-dir at once: the folder is claimed (an owner file made
   with O_EXCL); a live owner refuses the second run, a dead one's claim is taken over (a
   --resume after a kill works) and the claim goes when the command ends;
4. of two runs given one --out, the loser lost its weights with its temporary checkpoint
   folder: they are kept beside --out, OUT.finished.safetensors, and its line names it.

Concurrency is simulated: the competing files and claims are made by the test (one claim by
a second process, which is all O_EXCL needs to be tested).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli, cli_training, cli_watch
from napari_microdeblur.core import registry, run_paths
from napari_microdeblur.core.checkpoint import save_weights
from napari_microdeblur.core.partials import host_tag

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device",
          "cpu", "-q"]
OWNER = getattr(run_paths, "OWNER_FILE", ".microdeblur-run.owner")


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _soft(seed: int, n: int = 32) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 3)
    return image.astype(np.float32)


# ---------------------------------------------------------------- 1: a watch log cut off


@pytest.fixture
def watched(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(3):
        tifffile.imwrite(src / f"b{i}.tif", _soft(i))
    return src, out


def _watch(src, out):
    return cli.main(["watch", str(src), str(out), "--threshold", "0.5", "--once", "--settle",
                     "0", *WIENER])


def _cut_last_row(log, keep: int = 20) -> None:
    """The log as power loss leaves it: its last row cut to ``keep`` bytes, no line end."""
    rows = log.read_bytes().split(b"\r\n")[:-1]
    log.write_bytes(b"\r\n".join(rows[:-1]) + b"\r\n" + rows[-1][:keep])


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_cut_last_row_is_not_counted_and_its_file_is_redone(watched, capsys):
    src, out = watched
    assert _watch(src, out) == 0
    log = out / cli_watch.WATCH_LOG
    _cut_last_row(log)  # 'b2.tif,0.000344,de'
    (out / "b2_deblurred.tif").unlink()
    state = cli_watch.read_log(log, out, src)
    assert "b2.tif" not in state.done and {"b0.tif", "b1.tif"} <= state.done
    capsys.readouterr()
    tifffile.imwrite(src / "b3.tif", _soft(3))  # its row had been run into the cut one
    assert _watch(src, out) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "cut off" in line]
    assert len(warnings) == 1 and "microdeblur_watch.csv" in warnings[0], err
    assert "b2.tif" in warnings[0] and "processed again" in warnings[0]
    assert (out / "b2_deblurred.tif").is_file() and (out / "b3_deblurred.tif").is_file()
    done = {(r["name"], r["decision"]) for r in _rows(out)}
    assert {("b2.tif", "deblurred"), ("b3.tif", "deblurred")} <= done, done
    # each row on its own line: read back, every file is logged and nothing is redone
    assert not cli_watch.read_log(log, out, src).damaged
    assert _watch(src, out) == 0
    assert "cut off" not in capsys.readouterr().err


def test_rows_run_together_by_an_earlier_version_are_not_counted(watched):
    src, out = watched
    log = out / cli_watch.WATCH_LOG
    header = ",".join(cli_watch.WATCH_COLUMNS)
    row = "b1.tif,0.3,copied,,0.01,16656,1,2026-12-23T00:00:00.000+00:00,0.5"
    log.write_text(f"{header}\r\nb0.tif,0.0003,de{row}\r\n", encoding="utf-8")
    state = cli_watch.read_log(log, out, src)
    assert "b0.tif" not in state.done and "b1.tif" not in state.done
    assert list(state.damaged) == ["b0.tif"]


def test_a_header_without_its_line_end_gets_one_before_the_first_row(watched):
    src, out = watched
    log = out / cli_watch.WATCH_LOG
    log.write_text(",".join(cli_watch.WATCH_COLUMNS), encoding="utf-8")
    assert _watch(src, out) == 0
    assert sorted(r["name"] for r in _rows(out)) == ["b0.tif", "b1.tif", "b2.tif"]


# ------------------------------------------------- 2, 3: the checkpoint folder of a run


def test_a_run_killed_before_its_first_last_pt_has_one_way_out(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    for name in ("best.safetensors", "best.pt"):
        (ck / name).write_bytes(b"a killed run's")
    stale = ck / f".last.pt.{host_tag()}.{_dead_pid()}.partial"
    live = ck / f".last.pt.{host_tag()}.{os.getppid()}.partial"
    stale.write_bytes(b"cut")
    live.write_bytes(b"being written")
    said = []
    for resume in (True, False):
        with pytest.raises(ValueError) as caught:
            run_paths.check_checkpoint_dir(ck, resume=resume)
        said.append(str(caught.value))
    for text in said:  # both say the same way out, and neither sends to the other
        assert "best.safetensors, best.pt" in text and "cannot be resumed" in text, text
        assert "give another folder, or empty this one" in text, text
        assert "resume it" not in text and "folder of an earlier run" not in text, text
    assert not stale.exists() and live.exists()


def test_a_folder_in_use_by_a_live_run_is_refused(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / OWNER).write_text(f"{host_tag()} {os.getppid()} 2026-12-23T10:00:00+0000\n")
    for resume in (False, True):
        with pytest.raises(ValueError, match="is in use by another run now"):
            run_paths.check_checkpoint_dir(ck, resume=resume)
    (ck / OWNER).write_text("another-host 123 2026-12-23T10:00:00+0000\n")
    with pytest.raises(ValueError, match="in use by a run on another-host") as caught:
        run_paths.check_checkpoint_dir(ck, resume=False)
    assert OWNER in str(caught.value)  # what to remove if that run is over


def test_the_claim_is_exclusive_taken_over_from_a_dead_run_and_released(tmp_path):
    ck = tmp_path / "new"
    run_paths.check_checkpoint_dir(ck, resume=False, claim=True)
    owner = ck / OWNER
    assert owner.read_text().split()[:2] == [host_tag(), str(os.getpid())]
    run_paths.check_checkpoint_dir(ck, resume=False)  # this process's: no earlier run
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from napari_microdeblur.core import run_paths\n"
         "try:\n    run_paths.check_checkpoint_dir(sys.argv[1], resume=False, claim=True)\n"
         "except ValueError as e:\n    print(e)", str(ck)],
        capture_output=True, text=True, timeout=60)
    assert f"in use by another run now (process {os.getpid()}" in other.stdout, other
    run_paths.release_checkpoint_dirs()
    assert not ck.exists()  # made by the claim, left empty: removed
    ck.mkdir()
    owner.write_text(f"{host_tag()} {_dead_pid()} 2026-12-23T10:00:00+0000\n")
    run_paths.check_checkpoint_dir(ck, resume=False, claim=True)  # a killed run's: taken over
    assert owner.read_text().split()[1] == str(os.getpid())
    run_paths.release_checkpoint_dirs()
    assert ck.is_dir() and not owner.exists()


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A blurry/sharp pair, sharp images, a tiny gran config and weights; temporary folders
    in ``tmp_path / 'tmp'``."""
    (tmp_path / "sharp").mkdir()
    for i in range(2):
        tifffile.imwrite(tmp_path / "sharp" / f"{i}.tif", _soft(i, 64) * 4)
    tifffile.imwrite(tmp_path / "s.tif", _soft(0, 64) * 4)
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(_soft(0, 64) * 4, 1.5))
    tiny = registry.get_arch("gran").tiny_config
    (tmp_path / "gran.json").write_text(json.dumps(tiny))
    save_weights(registry.build_model("gran", tiny), tmp_path / "base.safetensors",
                 {"license": "CC0-1.0"})
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path


def _finetune(t, *extra, out="ft.safetensors"):
    return cli.main(["finetune", "--weights", str(t / "base.safetensors"), "--blurry",
                     str(t / "b.tif"), "--sharp", str(t / "s.tif"), "--out", str(t / out),
                     "--patch", "32", "--batch", "2", "--device", "cpu", "-q", *extra])


def _train(t, *extra, out="o.safetensors"):
    return cli.main(["train", "--arch", "gran", "--config", str(t / "gran.json"), "--out",
                     str(t / out), "--sharp", str(t / "sharp"), "--patch", "32", "--batch",
                     "2", "--device", "cpu", "-q", *extra])


def test_a_second_finetune_on_a_folder_in_use_is_refused_in_one_line(files, capsys):
    ck = files / "ck"
    ck.mkdir()
    (ck / OWNER).write_text(f"{host_tag()} {os.getppid()} 2026-12-23T10:00:00+0000\n")
    assert _finetune(files, "--steps", "2", "--checkpoint-dir", str(ck)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is in use by another run now" in err, err
    assert "--checkpoint-dir" in err and not (files / "ft.safetensors").exists()


def test_resume_after_a_kill_takes_the_dead_claim_over_and_releases_it(files, capsys):
    ck = files / "ck"
    assert _finetune(files, "--steps", "2", "--checkpoint-dir", str(ck)) == 0
    assert not (ck / OWNER).exists()  # released when the command ended
    # as a run killed outright leaves it: its claim, its process gone
    (ck / OWNER).write_text(f"{host_tag()} {_dead_pid()} 2026-12-23T10:00:00+0000\n")
    assert _finetune(files, "--steps", "4", "--checkpoint-dir", str(ck), "--resume",
                     "--overwrite") == 0, capsys.readouterr().err
    assert not (ck / OWNER).exists()


# ------------------------------------------------------- 4: the loser of one --out


def _theirs_meanwhile(monkeypatch, name: str, out) -> None:
    """Another run writes ``out`` while this one runs (``name``: cli_training's driver)."""
    real = getattr(cli_training, name)

    def then_theirs(*args, **kwargs):
        result = real(*args, **kwargs)
        out.write_bytes(b"the other run's weights")
        return result

    monkeypatch.setattr(cli_training, name, then_theirs)


def test_a_finetune_whose_out_another_run_wrote_keeps_its_weights_beside(files, capsys,
                                                                           monkeypatch):
    out = files / "ft.safetensors"
    _theirs_meanwhile(monkeypatch, "drive_fit", out)
    assert _finetune(files, "--steps", "2") == 0, capsys.readouterr().err
    kept = files / "ft.finished.safetensors"
    assert out.read_bytes() == b"the other run's weights" and kept.is_file()
    captured = capsys.readouterr()
    assert str(kept) in captured.err and "another run wrote" in captured.err, captured
    assert captured.out.startswith(f"{kept}:")


def test_a_train_whose_out_another_run_wrote_keeps_its_weights_beside(files, capsys,
                                                                       monkeypatch):
    out = files / "o.safetensors"
    _theirs_meanwhile(monkeypatch, "finish_train_run", out)
    assert _train(files, "--steps", "2") == 0, capsys.readouterr().err
    kept = files / "o.finished.safetensors"
    assert out.read_bytes() == b"the other run's weights" and kept.is_file()
    captured = capsys.readouterr()
    assert str(kept) in captured.err and "another run wrote" in captured.err, captured
    assert captured.out.startswith(f"{kept}:")


def test_a_self_adaptation_whose_out_another_run_wrote_keeps_its_weights_beside(
        tmp_path, capsys, monkeypatch):
    """finetune --self: the weights went with an error (save_weights refused the file the
    other run wrote); now beside it, as a paired run's are."""
    from napari_microdeblur import cli_finetune_self

    image = tmp_path / "blurry.tif"
    tifffile.imwrite(image, _soft(0, 160))
    out = tmp_path / "adapted.safetensors"
    real = cli_finetune_self.self_finished

    def then_theirs(result, run, args, out_path):
        out_path.write_bytes(b"the other run's weights")
        return real(result, run, args, out_path)

    monkeypatch.setattr(cli_finetune_self, "self_finished", then_theirs)
    assert cli.main(["finetune", "--self", str(image), "--psf", "gaussian:1.6", "--weights",
                     "gran.fluo_v1", "--out", str(out), "--steps", "1", "--minutes", "0.05",
                     "--device", "cpu", "-q"]) == 0, capsys.readouterr().err
    kept = tmp_path / "adapted.finished.safetensors"
    assert out.read_bytes() == b"the other run's weights" and kept.is_file()
    captured = capsys.readouterr()
    assert str(kept) in captured.err and "another run wrote" in captured.err, captured


def test_a_watch_leaves_a_file_another_live_run_claimed_and_logs_it_once_written(
        watched, capsys, monkeypatch):
    """Two watches on one folder: a file the other is processing is not done twice, nor
    logged 'exists' before its output is there (had that run been killed, the file was left
    undone for good); said once, looked at again, logged when the other run wrote it."""
    from napari_microdeblur.core.output_claims import claim_name

    src, out = watched
    target = out / "b1_deblurred.tif"
    claim = claim_name(target)
    claim.write_text(f"{host_tag()} {os.getppid()} 2026-12-23T10:00:00Z\n")  # a live run
    looks = []

    def the_other_run_ends(seconds):
        looks.append(seconds)
        if claim.exists():
            target.write_bytes(b"the other run's output")
            claim.unlink()

    monkeypatch.setattr(cli_watch.time, "sleep", the_other_run_ends)
    assert _watch(src, out) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "being written by another run" in line]
    assert len(said) == 1 and f"pid {os.getppid()}" in said[0], err
    assert looks and target.read_bytes() == b"the other run's output"
    decisions = {r["name"]: r["decision"] for r in _rows(out)}
    assert decisions == {"b0.tif": "deblurred", "b1.tif": "exists", "b2.tif": "deblurred"}
