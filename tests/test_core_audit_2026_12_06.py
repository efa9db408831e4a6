"""Audit 2026-12-06 (core): "auto" precision on CPUs that only emulate bfloat16, and loading
and saving weights as a user does (missing, foreign, damaged files; folders in the way,
read-only places, full disks, interrupted saves): one line naming the file and what to do,
no ``.NAME.*.tmp`` / ``.partial`` left, the user's file untouched."""

from __future__ import annotations

import errno
import hashlib
import json
import platform
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch
from safetensors.torch import save_file

from napari_microdeblur.core import checkpoint
from napari_microdeblur.core.checkpoint import CARD_KEY, load_model, read_card, save_weights
from napari_microdeblur.core.method import auto_precision
from napari_microdeblur.core.registry import build_model, get_arch

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_gran(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("gran", get_arch("gran").tiny_config)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p) for pattern in (".*.tmp", ".*.partial") for p in folder.rglob(pattern))


def one_line_naming(error: BaseException, path: Path) -> str:
    text = str(error)
    assert "\n" not in text and str(path) in text, text
    return text


# ----------------------------------------------------------------------------- 1: precision


def _cpu(monkeypatch, machine: str, *, onednn: bool = True, avx512_bf16=False, amx=False):
    """A CPU as torch sees it: oneDNN's bf16 answer and the x86 bf16 units."""
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    for name, value in (("_is_avx512_bf16_supported", avx512_bf16),
                        ("_is_amx_tile_supported", amx)):
        if value is None:  # a torch without the private helper
            monkeypatch.delattr(torch.cpu, name, raising=False)
        else:
            monkeypatch.setattr(torch.cpu, name, lambda v=value: v, raising=False)


def test_auto_is_float32_on_an_avx512_cpu_that_only_emulates_bf16(monkeypatch):
    """oneDNN says yes to bf16 on any AVX-512 CPU; without avx512_bf16 or AMX it emulates it,
    slower than float32, and "auto" chose it."""
    _cpu(monkeypatch, "x86_64", avx512_bf16=False, amx=False)
    assert auto_precision(CPU) == "float32"


@pytest.mark.parametrize("units", [{"avx512_bf16": True}, {"amx": True}])
def test_auto_is_bfloat16_on_an_x86_cpu_with_bf16_units(monkeypatch, units):
    _cpu(monkeypatch, "x86_64", **units)
    assert auto_precision(CPU) == "bfloat16"
    _cpu(monkeypatch, "x86_64", onednn=False, **units)  # oneDNN cannot run it: still no
    assert auto_precision(CPU) == "float32"


def test_auto_falls_back_to_onednn_when_torch_cannot_tell_the_units(monkeypatch):
    _cpu(monkeypatch, "AMD64", avx512_bf16=None, amx=None)
    assert auto_precision(CPU) == "bfloat16"


@pytest.mark.parametrize("machine", ["aarch64", "arm64"])
def test_auto_on_arm_follows_onednn_as_before(monkeypatch, machine):
    _cpu(monkeypatch, machine, avx512_bf16=False, amx=False)  # x86 helpers say no on ARM
    assert auto_precision(CPU) == "bfloat16"
    _cpu(monkeypatch, machine, onednn=False)
    assert auto_precision(CPU) == "float32"


def test_auto_stays_bfloat16_on_this_cpu_where_it_has_avx512_bf16():
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx512_bf16" not in flags or not torch.backends.mkldnn.is_available():
        pytest.skip("this CPU has no avx512_bf16 units")
    assert auto_precision(CPU) == "bfloat16"


# ----------------------------------------------------------------------------- 2: saving


def test_saving_onto_a_folder_says_so_and_leaves_it(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(OSError) as caught:  # said the temporary name -> the folder
        save_weights(tiny_gran(), folder)
    assert "it is a folder" in one_line_naming(caught.value, folder)
    assert ".tmp" not in str(caught.value)
    assert (folder / "notes.txt").read_text() == "mine" and not leftovers(tmp_path)


def test_saving_under_a_file_names_the_file_in_the_way(tmp_path):
    mine = tmp_path / "results"
    mine.write_text("mine")
    with pytest.raises(OSError) as caught:  # was "[Errno 17] File exists: '.../results'"
        save_weights(tiny_gran(), mine / "sub" / "m.safetensors")
    assert "is a file, not a folder" in one_line_naming(caught.value, mine)
    assert mine.read_text() == "mine" and not leftovers(tmp_path)


def test_saving_into_a_read_only_folder_says_what_to_do_and_leaves_no_folders(
        tmp_path, monkeypatch):
    import os

    real_open = os.open

    def refused(path, *args, **kwargs):  # as in a read-only folder (root writes anywhere)
        if str(path).endswith((".partial", ".tmp")):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    target = tmp_path / "new" / "sub" / "m.safetensors"
    with pytest.raises(PermissionError) as caught:
        save_weights(tiny_gran(), target)
    assert "choose a folder you can write to" in one_line_naming(caught.value, target)
    assert not (tmp_path / "new").exists()  # the folders made for it are gone again


def test_a_read_only_file_is_not_replaced(tmp_path):
    path = tmp_path / "kept.safetensors"
    save_weights(tiny_gran(0), path)
    path.chmod(0o444)
    before = digest(path)
    with pytest.raises(PermissionError) as caught:  # rename replaced it, read-only or not
        save_weights(tiny_gran(1), path)
    assert "read-only" in one_line_naming(caught.value, path)
    assert digest(path) == before and not leftovers(tmp_path)


def _partial_then(error: BaseException):
    def save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise error
    return save


def test_a_full_disk_is_one_oserror_line_and_the_old_file_stays(tmp_path, monkeypatch):
    path = tmp_path / "kept.safetensors"
    save_weights(tiny_gran(0), path)
    before = digest(path)
    full = safetensors.SafetensorError(  # what safetensors raises, not an OSError
        "Error while serializing: I/O error: No space left on device (os error 28) at path x")
    monkeypatch.setattr(safetensors.torch, "save_file", _partial_then(full))
    with pytest.raises(OSError) as caught:
        save_weights(tiny_gran(1), path)
    text = one_line_naming(caught.value, path)
    assert "No space left on device" in text and "free some space" in text
    assert caught.value.errno == errno.ENOSPC
    assert digest(path) == before and not leftovers(tmp_path)


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "kept.safetensors"
    save_weights(tiny_gran(0), path)
    before = digest(path)
    monkeypatch.setattr(safetensors.torch, "save_file", _partial_then(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_weights(tiny_gran(1), path)
    assert digest(path) == before and not leftovers(tmp_path)
    monkeypatch.undo()
    assert load_model(path)[1].arch == "gran"


# ----------------------------------------------------------------------------- 2: loading


def test_a_missing_path_says_no_such_file_not_the_bundled_list(tmp_path):
    path = tmp_path / "my_weights.safetensors"
    with pytest.raises(ValueError) as caught:
        load_model(path)
    text = one_line_naming(caught.value, path)
    assert "no such file" in text and "bundled" not in text
    with pytest.raises(ValueError, match="no bundled weights of that name"):
        load_model("gran.no_such_tag")  # a name, not a path: the list helps there


def test_read_card_of_a_missing_file_is_not_called_corrupt(tmp_path):
    path = tmp_path / "gone.safetensors"
    with pytest.raises(ValueError) as caught:
        read_card(path)
    text = one_line_naming(caught.value, path)
    assert "no such file" in text and "corrupt" not in text


@pytest.mark.parametrize("name", ["weights_best.h5", "model.keras", "n2v.hdf5"])
def test_keras_weights_of_csbdeep_are_named_as_such(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(ValueError) as caught:  # was "unknown weights format '.h5'"
        load_model(path)
    assert "CSBDeep" in one_line_naming(caught.value, path)


def test_an_unreadable_file_says_so_not_a_raw_permission_error(tmp_path, monkeypatch):
    import builtins

    path = tmp_path / "locked.safetensors"
    save_weights(tiny_gran(), path)

    def locked(file, *args, **kwargs):  # chmod 000 as seen by a user who is not root
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", locked, raising=False)
    with pytest.raises(ValueError) as caught:
        load_model(path)
    assert "check its permissions" in one_line_naming(caught.value, path)


def _truncated(tmp_path: Path, suffix: str) -> Path:
    whole = tmp_path / f"whole{suffix}"
    model = tiny_gran()
    if suffix == ".safetensors":
        save_weights(model, whole)
    else:
        torch.save(model.state_dict(), whole)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_truncated_file_says_to_fetch_it_again_and_is_left_alone(tmp_path, suffix):
    path = _truncated(tmp_path, suffix)
    before = digest(path)
    with pytest.raises(ValueError) as caught:
        load_model(path, **({"arch": "gran", "config": get_arch("gran").tiny_config}
                            if suffix == ".pth" else {}))
    assert "again" in one_line_naming(caught.value, path)
    assert digest(path) == before and not leftovers(tmp_path)


def _with_card(tmp_path: Path, name: str, edit) -> Path:
    good = tmp_path / "good.safetensors"
    save_weights(tiny_gran(), good)
    with safetensors.safe_open(str(good), "pt") as f:
        card = json.loads(f.metadata()[CARD_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    path = tmp_path / name
    save_file(tensors, str(path), metadata={CARD_KEY: edit(card)})
    return path


def test_a_card_config_the_architecture_refuses_says_what_to_do(tmp_path):
    path = _with_card(tmp_path, "newer.safetensors",
                      lambda c: json.dumps({**c, "config": {**c["config"], "new_field": 1}}))
    with pytest.raises(ValueError) as caught:
        load_model(path)
    text = one_line_naming(caught.value, path)
    assert "'new_field'" in text and "update napari-microdeblur" in text


def test_a_card_that_is_not_json_says_what_to_do(tmp_path):
    path = _with_card(tmp_path, "edited.safetensors", lambda c: json.dumps(c)[:-5])
    with pytest.raises(ValueError) as caught:
        load_model(path)
    assert "use the original file" in one_line_naming(caught.value, path)


def _foreign(tmp_path: Path) -> list[Path]:
    """Files of other tools: a CAREamics-like Lightning .ckpt, a plain state dict of another
    network, a whole pickled model, Keras .h5, safetensors without our card."""
    unet = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 1, 3))
    ckpt = tmp_path / "careamics.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in unet.state_dict().items()},
                "hyper_parameters": {"algorithm": "n2v"}}, ckpt)
    plain = tmp_path / "unet.pth"
    torch.save(unet.state_dict(), plain)
    whole = tmp_path / "whole.pt"
    torch.save(unet, whole)
    h5 = tmp_path / "weights_best.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    bare = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(bare))
    return [ckpt, plain, whole, h5, bare]


@pytest.mark.parametrize("arch", [None, "gran"])
def test_files_of_other_tools_give_one_line_and_stay_as_they_were(tmp_path, arch):
    files = _foreign(tmp_path)
    before = {p: digest(p) for p in files}
    for path in files:
        with pytest.raises(ValueError) as caught:
            load_model(path, arch=arch)
        one_line_naming(caught.value, path)
    assert {p: digest(p) for p in files} == before
    assert sorted(tmp_path.iterdir()) == sorted(files) and not leftovers(tmp_path)


def test_a_save_removes_what_a_killed_save_of_the_same_file_left(tmp_path):
    """A save killed outright (SIGKILL) leaves its hidden temporary file; the next save of the
    same file on this machine removes it once its process is gone (it stayed for ever)."""
    import subprocess
    import sys

    from napari_microdeblur.core.partials import host_tag

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path = tmp_path / "w.safetensors"
    stale = tmp_path / f".w.safetensors.{host_tag()}.{int(dead.stdout)}.partial"
    stale.write_bytes(b"half a file")
    other = tmp_path / f".w.safetensors.otherhost.{int(dead.stdout)}.partial"
    other.write_bytes(b"a cluster worker's")  # another machine's: never touched
    save_weights(tiny_gran(0), path)
    assert not stale.exists() and other.exists()
    assert load_model(path)[1].arch == "gran"


def test_saved_weights_get_the_permissions_of_any_new_file(tmp_path):
    """mkstemp made the temporary file owner-only (0o600), and the rename kept that: weights
    saved on a shared server were unreadable to the group."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "shared.safetensors"
        save_weights(tiny_gran(0), path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_card_config_of_huge_width_is_refused_before_any_memory(tmp_path, monkeypatch):
    """An edited card asking for 2000 features: the shapes are compared on the meta device
    first, so the real network (1.4 GB of float32 here; 20000 features was killed by the
    system for memory) is never built."""
    from napari_microdeblur.core import registry

    path = _with_card(tmp_path, "wide.safetensors",
                      lambda c: json.dumps({**c, "config": {**c["config"], "n_feats": 2000}}))
    built_on = []
    real = registry.build_model

    def recording(*args, **kwargs):
        built_on.append(str(torch.get_default_device()))
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "build_model", recording)
    with pytest.raises(ValueError, match="tensor shapes do not fit") as caught:
        load_model(path)
    one_line_naming(caught.value, path)
    assert built_on == ["meta"]
    monkeypatch.undo()
    assert load_model(_with_card(tmp_path, "same.safetensors", lambda c: json.dumps(c)))[1]
