"""`microdeblur finetune` stopped or diverged before any validation beat the starting weights
(walkthrough of 2026-12-17): with --overwrite it replaced an earlier fine-tune in --out with
the untouched start (train writes nothing); a stopped run's card read as a finished one;
--resume took other --weights or --license and the card then named them; --focus-plane auto
never said the plane it took (plane 0 of a light-sheet stack); --target-neighbours K beyond
the stack was cut without a word while the card said K."""

import json
import tempfile

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli, cli_training
from napari_microdeblur.core import registry
from napari_microdeblur.core.checkpoint import read_card, save_weights

EARLIER = b"an earlier fine-tune"


def _texture(seed: int, n: int = 64) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n)), 2)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


@pytest.fixture
def files(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "s.tif", _texture(0))
    tifffile.imwrite(tmp_path / "b.tif", ndimage.gaussian_filter(_texture(0), 1.5))
    base = _texture(5)
    for name, blur in (("end", lambda z: 0.3 + 0.4 * z), ("mid", lambda z: 0.3 + 0.5 * abs(z - 4))):
        stack = np.stack([ndimage.gaussian_filter(base, blur(z)) for z in range(9)])
        tifffile.imwrite(tmp_path / f"{name}.tif", stack.astype(np.float32),
                         metadata={"axes": "ZYX"})
    tiny = registry.get_arch("gran").tiny_config
    (tmp_path / "gran.json").write_text(json.dumps(tiny))
    save_weights(registry.build_model("gran", tiny, seed=0), tmp_path / "base.safetensors",
                 {"license": "CC0-1.0", "training_data": "set A"})
    save_weights(registry.build_model("gran", tiny, seed=1), tmp_path / "other.safetensors",
                 {"license": "MIT", "training_data": "set B"})
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


PAIRS = ["finetune", "--weights", "base.safetensors", "--blurry", "b.tif", "--sharp", "s.tif",
         "--patch", "32", "--batch", "2", "--device", "cpu", "-q", "--patience", "100"]
STACK = ["finetune", "--weights", "base.safetensors", "--patch", "32", "--batch", "2",
         "--device", "cpu", "--patience", "100", "--steps", "2"]


def _interrupted_after(monkeypatch, n: int) -> None:
    """Ctrl-C after the job's n-th record (its notes are the first), between two steps."""
    real = cli_training.drive_fit

    def paused(job):
        for _ in range(n):
            yield next(job)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_training, "drive_fit", lambda job, **kw: real(paused(job), **kw))


def _last_err(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ------------------------------------------- 1: the start kept is not written over --out


def test_a_stopped_finetune_that_kept_the_start_leaves_the_earlier_out(files, monkeypatch,
                                                                         capsys):
    (files / "keep.safetensors").write_bytes(EARLIER)
    _interrupted_after(monkeypatch, 4)  # validated at step 2: it did not beat the start by 50 dB
    assert cli.main([*PAIRS, "--steps", "20", "--min-gain", "50", "--out", "keep.safetensors",
                     "--overwrite"]) == 130
    line = _last_err(capsys)
    assert (files / "keep.safetensors").read_bytes() == EARLIER, line
    assert line == ("microdeblur: interrupted at step 3 of 20, before any validation beat the "
                    "starting weights (base.safetensors, unchanged: use them as they are); "
                    "nothing written to keep.safetensors, left as it was"), line


def test_a_diverged_finetune_that_kept_the_start_leaves_the_earlier_out(files, monkeypatch,
                                                                          capsys):
    from napari_microdeblur.core.training.loop import Trainer

    real, calls = Trainer.train_step, []

    def step(self):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("loss is nan")
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", step)
    (files / "keep.safetensors").write_bytes(EARLIER)
    assert cli.main([*PAIRS, "--steps", "20", "--out", "keep.safetensors",
                     "--overwrite"]) == 2
    line = _last_err(capsys)
    assert (files / "keep.safetensors").read_bytes() == EARLIER, line
    assert "no validation beat the starting weights (base.safetensors, unchanged" in line, line
    assert line.endswith("so keep.safetensors was not written, left as it was"), line


def test_a_finished_finetune_that_kept_the_start_says_it_replaced_the_out(files, capsys):
    """The README's case: a run that ends with the start kept writes it, and says so."""
    (files / "keep.safetensors").write_bytes(EARLIER)
    assert cli.main([*PAIRS, "--steps", "4", "--min-gain", "50", "--out", "keep.safetensors",
                     "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("keep.safetensors: holds the starting weights of base.safetensors, "
                          "unchanged (replacing what it held before); "), out
    assert read_card(files / "keep.safetensors").metrics["step"] == 0


# --------------------------------------------- 3: a stopped run's card says it stopped


def test_a_stopped_finetune_card_says_where_it_stopped(files, monkeypatch, capsys):
    _interrupted_after(monkeypatch, 8)
    assert cli.main([*PAIRS, "--steps", "20", "--out", "st.safetensors"]) == 130
    line = _last_err(capsys)
    assert line.startswith("microdeblur: interrupted; wrote the best weights so far (step "), line
    card = read_card(files / "st.safetensors")
    assert card.metrics["stopped"] == "interrupted (Ctrl-C) at step 7 of 20"
    assert card.description.endswith("; interrupted (Ctrl-C) at step 7 of 20")
    assert card.metrics["step"] > 0 and card.metrics["val_psnr_start"] < card.metrics["val_psnr"]


# ------------------------------------------------------- 2: --resume from another start


@pytest.mark.parametrize("change,words", [
    (["--weights", "other.safetensors"],
     "was started from 'base.safetensors', not 'other.safetensors'; give --weights "
     "'base.safetensors' as before"),
    (["--license", "MIT"],
     "was started with licence 'CC0-1.0 AND NOASSERTION' (the starting weights' AND the "
     "images'), not 'CC0-1.0 AND MIT'; give the same --license as before"),
], ids=["weights", "license"])
def test_finetune_resume_from_another_start_or_licence_is_refused(files, capsys, change, words):
    assert cli.main([*PAIRS, "--steps", "2", "--out", "a.safetensors", "--checkpoint-dir",
                     "ck"]) == 0
    argv = [*PAIRS, "--steps", "4", "--out", "b.safetensors", "--checkpoint-dir", "ck",
            "--resume"]
    if change[0] == "--weights":
        argv[argv.index("--weights") + 1] = change[1]
    else:
        argv += change
    capsys.readouterr()
    assert cli.main(argv) == 2
    line = _last_err(capsys)
    assert line.startswith("microdeblur: error: resume: ") and words in line, line
    assert not (files / "b.safetensors").exists()


# ---------------------------------------------------- 4: the plane --focus-plane auto took


def test_auto_focus_plane_is_said_and_an_end_plane_warned(files, capsys):
    assert cli.main([*STACK, "--stack", "mid.tif", "--out", "m.safetensors"]) == 0
    err = capsys.readouterr().err
    assert ("microdeblur: mid.tif: in-focus plane 4 of 9 (--focus-plane auto: the best focus "
            "score)") in err, err
    assert cli.main([*STACK, "--stack", "end.tif", "-q", "--out", "e.safetensors"]) == 0
    err = capsys.readouterr().err
    assert ("microdeblur: warning: end.tif: --focus-plane auto picked plane 0 of 9, the first; "
            "if that is not the in-focus plane, give --focus-plane N (0 to 8)") in err, err


# ------------------------------------------- 5: --target-neighbours beyond the stack's planes


def test_target_neighbours_beyond_the_stack_are_cut_said_and_recorded(files, capsys):
    assert cli.main([*STACK, "--stack", "mid.tif", "-q", "--target-neighbours", "10", "--out",
                     "m.safetensors"]) == 0
    err = capsys.readouterr().err
    assert ("microdeblur: warning: --target-neighbours 10: mid.tif has 4 plane(s) on the nearer "
            "side of its in-focus plane 4: each target averages 4 each side") in err, err
    data = read_card(files / "m.safetensors").training_data
    assert "mean of 4 plane(s) each side of focus" in data, data


def test_the_targets_stay_centred_on_focus_and_the_request_records_the_planes_used():
    from napari_microdeblur.core.finetune_request import FinetuneRequest, StackField, request_fields
    from napari_microdeblur.core.pairs import pairs_from_stack

    stack = np.stack([_texture(9, 32) * (1 + z) for z in range(9)])
    got = pairs_from_stack(stack, focus_plane=2, target_neighbours=3, align=False)
    # planes 0-4 (2 each side of focus 2): 0-5 had centred the mean on plane 2.5
    assert {p.info["z"]: p.info["target_planes"] for p in got}[7] == [0, 1, 2, 3, 4]
    req = FinetuneRequest(mode="stack", layer_name="s", axes="ZYX", model=None, base_label="b",
                          base_card=None, fields=[StackField("s", stack, "ZYX", 2, 10)])
    assert request_fields(req)[0].target_neighbours == 2
