"""`microdeblur info` of a training run's checkpoint: its ``last.pt`` or ``best.pt``
(`train`/`finetune`, or `finetune --self`'s ``last.pt``) and the ``--checkpoint-dir`` folder
that holds them. Read as a plain state dict, a last.pt was called 'without a model card' and
the advice to convert it named the run's own last.safetensors, which that would replace; the
folder was 'an input directory that holds no image file'. Said instead: which job, step and
best validation so far, the .safetensors weights beside it to give, and --resume to continue.
Also the line a card of an earlier release gets where it records no input's score."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .core.shown import shown_path

__all__ = ["checkpoint_info", "checkpoint_lines", "expanded_with_runs", "folder_denied",
           "is_run_folder", "unknown_input_lines"]


def is_run_folder(path: str) -> bool:
    """Whether ``path`` is a folder holding a run's ``last.pt`` (its --checkpoint-dir)."""
    return Path(path).is_dir() and (Path(path) / "last.pt").is_file()


def expanded_with_runs(files: list[str]) -> list[str]:
    """``cli_focus.expanded`` of ``files``, a run's checkpoint folder kept as itself (its
    images too, where it holds some): `info` says what it is. One that is, or lies in, a folder
    this user may not read (another user's 0700 run folder) is an ``Unlisted`` saying whose
    (``folder_denied``): it had ended `info` of every file given with '[Errno 13] Permission
    denied: 'run/last.pt''."""
    from .cli_focus import Unlisted, expanded

    paths: list = []
    for given in files:
        try:
            if not is_run_folder(given):
                paths += expanded([given])
                continue
            found = [p for p in expanded([given]) if not isinstance(p, Unlisted)]
        except PermissionError:
            paths.append(Unlisted(given, folder_denied(given)))
            continue
        paths += [given, *found]
    return paths


def folder_denied(given: str) -> PermissionError:
    """Why ``given`` cannot be read where it is, or lies in, a folder this user may not list
    or enter: that folder, its owner and mode, and who can change it."""
    from .core.claims import user_name
    from .core.training.unreadable import permission_words

    for folder in (Path(given), *Path(given).parents):
        try:
            found = folder.stat()
        except OSError:  # inside the folder that cannot be entered
            continue
        if stat.S_ISDIR(found.st_mode) and not os.access(folder, os.R_OK | os.X_OK):
            break
    else:
        return PermissionError(f"{shown_path(given)}: {permission_words(given)}")
    where = "" if folder == Path(given) else f"it lies in {shown_path(folder)}, "
    mode = stat.filemode(found.st_mode)
    if hasattr(os, "geteuid") and found.st_uid == os.geteuid():
        return PermissionError(f"{shown_path(given)}: {where}a folder of yours ({mode}) that you "
                               f"cannot read; make it readable (chmod u+rx {shown_path(folder)})")
    owner = user_name(found.st_uid)
    said = f"{shown_path(given)}: {where}a folder of another user ({owner}, {mode}) that cannot be "
    groups = _own_groups()
    if groups is None or found.st_gid in groups:
        return PermissionError(f"{said}read by you; ask {owner} to share it with your group "
                               f"(chmod -R g+rX {shown_path(folder)}) or to copy it where you "
                               "can read it")
    # g+rX of a group this user is not in shares it with no one
    return PermissionError(f"{said}read by you, and its group ({_group_name(found.st_gid)}) is "
                           f"not one of yours; ask {owner} to copy it where you can read it, "
                           f"or to give it a group you share (chgrp -R GROUP "
                           f"{shown_path(folder)}; chmod -R g+rX {shown_path(folder)})")


def _own_groups() -> set | None:
    """The groups of this process; None where the platform cannot tell."""
    try:
        return {os.getegid(), *os.getgroups()}
    except (AttributeError, OSError):
        return None


def _group_name(gid: int) -> str:
    """The name of the group ``gid`` (its number where it has none here)."""
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return f"gid {gid}"


def checkpoint_info(path: str) -> dict | None:
    """``info --json`` of a run's checkpoint file or folder; None for any other file (read as
    weights, which says why it cannot be read). ValueError naming the file where this user may
    not read it (said as permission, not damage), or where a run folder's last.pt cannot be
    read (a None there had reached `info` as "argument of type 'NoneType' is not iterable")."""
    import torch

    from .core.state_dict_files import checkpoint_facts
    from .core.training.unreadable import permission_words, unreadable_reason

    folder = is_run_folder(path)
    file = Path(path) / "last.pt" if folder else path
    try:
        obj = torch.load(str(file), map_location="cpu", weights_only=True)
    except PermissionError:  # another user's private file: not 'truncated or corrupt'
        raise ValueError(f"{shown_path(file)}: {permission_words(file)}") from None
    except Exception as exc:  # noqa: BLE001 - a file: read as weights, which says why
        if not folder:
            return None
        raise ValueError(f"{shown_path(file)}: not a readable training checkpoint "
                         f"({unreadable_reason(exc)})") from None
    facts = checkpoint_facts(obj, file)
    if facts is None and folder:  # a last.pt of something else, in a folder named as a run's
        raise ValueError(f"{shown_path(file)}: not a napari-microdeblur training checkpoint")
    if facts is None:
        return None
    return {"file": str(path), "training_checkpoint": {**facts, "is_folder": folder}}


def _best_words(facts: dict) -> str:
    if facts.get("best_loss") is not None:  # finetune --self: a held-out loss, no PSNR
        best = f"held-out data-consistency loss {facts['best_loss']:.4f}"  # as its run says
    elif isinstance(facts.get("best_psnr"), (int, float)):
        best = f"validation PSNR {facts['best_psnr']:.2f} dB"
    else:
        return "no validation so far"
    at = ("the starting weights" if facts.get("best_step") == 0
          else f"step {facts.get('best_step')}")
    earlier = ("; scored by an earlier release, possibly on another scale: --resume "
               "re-measures it" if facts.get("earlier_scoring") else "")
    return f"{best} ({at}){earlier}"


def checkpoint_lines(info: dict) -> list[str]:
    """The lines ``info`` prints for a run's checkpoint file or folder."""
    facts = info["training_checkpoint"]
    folder = shown_path(facts["folder"])
    what = {"last": "last.pt", "best": "best.pt"}[facts["kind"]]
    head = (f"training checkpoint folder of a {facts['job']} run (its last.pt)"
            if facts["is_folder"] else
            f"training checkpoint ({what} of a {facts['job']} run), not weights with a model card")
    job = ", ".join(str(x) for x in (facts.get("arch"), facts.get("regime") and
                                     f"regime {facts['regime']}") if x)
    step = facts.get("step")
    steps = f" of {facts['steps']}" if facts.get("steps") else ""
    lines = [f"{info['file']}:", f"  {head}" + (f": {job}" if job else "")]
    if facts["kind"] == "last":  # a best.pt's step is that of its weights, said below
        lines.append(f"  step: {step}{steps}")
    label = "best so far" if facts["kind"] == "last" else "these weights"
    lines.append(f"  {label}: {_best_words(facts)}")
    if facts.get("run"):
        lines.append(f"  run: {facts['run']}")
    beside = facts.get("beside") or []
    if beside:
        lines.append(f"  use: --weights {shown_path(beside[0])}" + (
            f" (the best weights; {shown_path(beside[1])}: the latest)"
            if len(beside) > 1 else ""))
    elif not facts["is_folder"]:  # copied or renamed: its tensors are read, without a card
        arch = facts.get("arch") or "ARCH"
        lines.append(f"  use: --weights {shown_path(info['file'])} --arch {arch} (its weights, "
                     "without a model card: no normalisation or training record)")
    if facts.get("resumable"):
        again = "finetune --self" if facts["job"] == "finetune --self" else "train or finetune"
        lines.append(f"  continue the run: its {again} command with --checkpoint-dir {folder} "
                     "--resume (and --overwrite where its --out was written)")
    return lines


def unknown_input_lines(metrics: dict) -> list[str]:
    """The line for a card with a validation PSNR but not the unprocessed input's (cards of
    releases before it was recorded, whose validation may also have read on another scale):
    its PSNR alone read as a gain it may not be."""
    psnr = metrics.get("val_psnr", metrics.get("val_psnr_network"))
    if not isinstance(psnr, (int, float)) or "val_psnr_input" in metrics:
        return []
    return ["  (the card does not record the unprocessed input's score: whether these weights "
            "beat their input is not known; cards of earlier releases may score on another "
            "scale)"]
