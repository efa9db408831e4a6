"""Every way out that a psf_cyclegan patch refusal names passes all the checks before training
together (size divisor, the PSF in the patch, the PSF's margin on the sharp set, the
discriminator's smallest patch): the test follows each suggestion, as a user would, until the
run is accepted. They sent the user in a circle: 48-plane stacks at --patch 40 were told
'--patch 24 or smaller', which the discriminator refused ('it takes --patch 40 or larger');
2D --patch 16 was told 'a patch of at least 21 px' (no multiple of 8), then 24 was refused."""

import json
import re

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.training import setup as setup_mod


class Accepted(Exception):
    """Raised once every check passed: the run would train."""


@pytest.fixture
def checks_only(monkeypatch):
    real = setup_mod.prepare

    def prepare(*args, **kwargs):
        real(*args, **kwargs)
        raise Accepted

    monkeypatch.setattr(setup_mod, "prepare", prepare)


def images(root, dims, side):
    """--unpaired-blurry and --unpaired-sharp folders; 3D: z-stacks of ``side`` planes."""
    shape = (side, 64 if side < 64 else side, 64 if side < 64 else side) if dims == 3 \
        else (side, side)
    folder = root / f"{dims}d_{side}"
    if not folder.exists():
        rng = np.random.default_rng(0)
        for name in ("blurry", "sharp"):
            (folder / name).mkdir(parents=True)
            kw = {"imagej": True, "metadata": {"axes": "ZYX"}} if dims == 3 else {}
            tifffile.imwrite(folder / name / "a.tif", rng.random(shape, dtype=np.float32), **kw)
    return folder


def run(root, dims, side, patch, disc):
    folder = images(root, dims, side)
    extra = ["--discriminator-config", json.dumps(disc)] if disc else []
    argv = ["train", "--arch", "psf_cyclegan", "--regime", "psf_cyclegan",
            "--unpaired-blurry", str(folder / "blurry"), "--unpaired-sharp",
            str(folder / "sharp"), "--patch", str(patch), "--steps", "1", "--batch", "1",
            "--device", "cpu", "-q", "--out", str(root / "w.safetensors"), *extra,
            *(["--axes", "ZYX"] if dims == 3 else [])]
    try:
        return main(argv)
    except Accepted:
        return None


def ways(message: str) -> list[str]:
    """The suggested ways out of a refusal, each as the user would read it."""
    tail = message.split("accepted: ", 1)[-1] if "accepted: " in message else \
        message.split("give ", 1)[-1] if "give " in message else message.split(": ", 1)[-1]
    inner = re.findall(r"; (--patch \d+ with --discriminator-config '[^']*')\)", tail)
    tail = re.sub(r"\([^()]*\)", "", tail)  # asides such as '(a multiple of 8, ...)'
    found = [w for w in re.split(r"[,;] or | or a smaller psf_size", tail) if "psf_size" not in w]
    return [w for w in found + inner if "--patch" in w or "at least" in w]


def follow(capsys, root, dims, side, patch, disc, depth=0):
    """Follow every way out of the refusal at (side, patch, disc) until it is accepted."""
    assert depth < 3, f"still refused after {depth} suggestions followed"
    code = run(root, dims, side, patch, disc)
    if code is None:
        return 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    message = message.removeprefix("microdeblur: error: ")
    assert code == 2, message
    found = ways(message)
    assert found, message
    accepted = 0
    for way in found:
        new_patch = re.search(r"--patch (\d+)", way)
        new_disc = re.search(r"--discriminator-config '([^']*)'", way)
        new_side = re.search(r"at least (\d+) (?:planes|px)", way)
        accepted += follow(capsys, root, dims,
                           int(new_side.group(1)) if new_side else side,
                           int(new_patch.group(1)) if new_patch else patch,
                           json.loads(new_disc.group(1)) if new_disc else disc, depth + 1)
    return accepted


@pytest.mark.parametrize("dims, side, patch", [
    (3, 9, 40),   # 9-plane stacks: '--patch 24 with 44-plane stacks' needs fewer layers
    (3, 48, 40),  # '--patch 24 or smaller', which the discriminator refused
    (3, 48, 24),  # 'takes --patch 40 or larger', which 48 planes cannot hold with the PSF
    (2, 128, 16),  # 'a patch of at least 21 px': no multiple of 8, and 24 too small
    (2, 128, 24),
    (2, 32, 24),  # too small for any discriminator-taken patch with the PSF's margin
])
def test_every_suggestion_is_accepted(tmp_path, capsys, checks_only, dims, side, patch):
    assert follow(capsys, tmp_path, dims, side, patch, None) >= 1


def test_the_suggestions_name_the_layers_and_the_images(tmp_path, capsys, checks_only):
    assert run(tmp_path, 3, 48, 40, None) == 2
    err = capsys.readouterr().err
    assert """--patch 24 with --discriminator-config '{"n_layers": 3}'""" in err, err
    assert "--patch 24 or smaller" not in err, err
    assert run(tmp_path, 3, 48, 24, None) == 2
    err = capsys.readouterr().err
    assert "it takes --patch 40 or larger" in err, err
    assert "which needs z-stacks of at least 60 planes and 60 px a side" in err, err
    assert run(tmp_path, 2, 128, 16, None) == 2
    err = capsys.readouterr().err
    assert "at least 21 px" not in err and "--patch 104 or smaller" in err, err
