"""The files of a training run: ``last.pt`` (everything a resume needs) and the best weights,
``best.pt`` (state dict + metrics) and, for registry-built models, ``best.safetensors`` and
``last.safetensors`` (the weights at the last checkpoint) with their model cards. All are
written to a temporary name and renamed, and read back with ``torch.load(...,
weights_only=True)``."""

from __future__ import annotations

import atexit
import contextlib
import copy
import errno
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data as data_mod
from .. import weights_layouts as layouts
from ..checkpoint import save_weights, write_atomically
from ..partials import host_tag, process_is_gone
from ..run_paths import RUN_FILES, check_checkpoint_dir, checked_temporary_folder
from .regimes import get_regime
from .regimes.base import KEEP_LAST
from .unreadable import permission_words, unreadable_reason  # unreadable_reason: re-exported

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "RUN_FILES",
    "RESUME_SETTINGS",
    "SELF_CHECKPOINT_FORMAT",
    "TemporaryFolderFull",
    "VALIDATION_SCORING",
    "VALIDATION_SCORING_KEY",
    "check_checkpoint_dir",
    "check_resumable",
    "check_same_network",
    "check_same_settings",
    "check_same_start",
    "checkpoint_path",
    "checked_temporary_folder",
    "cpu_state",
    "in_todays_layout",
    "load_training_checkpoint",
    "newer_best",
    "read_checkpoint_info",
    "remove_stale_run_dirs",
    "rescore_resumed",
    "run_folder",
    "save_atomically",
    "starting_weights_kept",
    "temporary_checkpoint_dir",
    "unreadable_reason",
    "write_best",
    "write_weights",
]

CHECKPOINT_FORMAT = "napari-microdeblur-training-checkpoint"
#: 2 added the training config
CHECKPOINT_VERSION = 2
#: the last.pt of `finetune --self` (core.self_adapt_checkpoints): another job's, refused here
#: in words that name it (it was 'not a napari-microdeblur training checkpoint')
SELF_CHECKPOINT_FORMAT = "napari-microdeblur-self-adapt-checkpoint"
#: which validation scoring wrote the PSNRs of a last.pt / best.pt (under
#: VALIDATION_SCORING_KEY). 2: real pairs on the sharp image's own evaluation scale; files of
#: earlier releases have no key, and their PSNRs read up to ~4 dB apart on the same pixels
VALIDATION_SCORING = 2
VALIDATION_SCORING_KEY = "validation_scoring"


_TEMPORARY_DIRS: list[str] = []

#: a run's temporary folder, ``microdeblur-<kind>-<host>.<pid>.<random>``: the host and the
#: process id tell a later run whether the process that made it is gone (as ``core.partials``
#: tells a killed run's partial outputs); a killed run (SIGKILL, the OOM killer) cannot
#: remove its own, which held its last.pt (70 MB for a small network) for ever
_RUN_DIR = re.compile(r"microdeblur-(?:train|finetune)-([A-Za-z0-9_-]+)\.(\d+)\.\w+")


class TemporaryFolderFull(OSError):
    """A checkpoint that did not fit in the temporary folder, which the user never chose:
    the line says to set TMPDIR (the command line adds --checkpoint-dir, ``cli_runs``)."""


@contextlib.contextmanager
def _temporary_folder_advice(path: Path) -> Iterator[None]:
    """A full disk while writing into a run's own temporary folder (no folder given): the
    error says which variable moves it; the system's advice ('choose another disk') named a
    disk the user never chose."""
    try:
        yield
    except OSError as error:
        full = error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
        if not full or _RUN_DIR.fullmatch(Path(path).parent.name) is None:
            raise
        text = str(error).replace("; free some space or choose another disk", "")
        worded = TemporaryFolderFull(
            f"{text}; that is this run's temporary folder, in "
            f"{str(Path(path).parent.parent)!r}: free some space there, or set "
            "TMPDIR=<a folder on a disk with space>")
        worded.errno = error.errno
        raise worded from None


def temporary_checkpoint_dir(kind: str = "finetune") -> str:
    """A fresh folder for one run's checkpoints, removed when Python exits: a run given no
    folder keeps its weights there for as long as the session may still use or save them.
    Those that killed runs left are removed first (``remove_stale_run_dirs``)."""
    checked_temporary_folder()
    if not _TEMPORARY_DIRS:
        atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _TEMPORARY_DIRS])
    remove_stale_run_dirs()
    path = tempfile.mkdtemp(prefix=f"microdeblur-{kind}-{host_tag()}.{os.getpid()}.")
    _TEMPORARY_DIRS.append(path)
    return path


def remove_stale_run_dirs(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove the temporary run folders in ``folder`` (default: the temporary folder) made on
    this host by a process that is gone; the folders removed. A folder of another host, of a
    process still running (a run now), of another user or of a name without host and process
    (made before they were named: nothing tells whether its run still goes on) is kept."""
    host, removed = host_tag(), []
    try:
        entries = list(os.scandir(folder or tempfile.gettempdir()))
    except OSError:  # a temporary folder that cannot be listed holds none of ours
        return removed
    for entry in entries:
        found = _RUN_DIR.fullmatch(entry.name)
        try:
            ours = (found is not None and found.group(1) == host
                    and entry.is_dir(follow_symlinks=False)
                    and getattr(os, "getuid", lambda: None)() in (None, entry.stat().st_uid))
        except OSError:
            continue
        if ours and process_is_gone(int(found.group(2))):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.lexists(entry.path):
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def run_folder(given: str | os.PathLike | None, kind: str) -> Iterator[Path]:
    """The checkpoint folder of a `train` or `finetune` run (``kind``): ``given`` (made by no
    one here: a temporary folder beside it was left empty by each run), else a temporary one
    removed at the end. Either way the folders that killed runs left are removed first, and
    a temporary folder is checked (``checked_temporary_folder``: torch needs one too)."""
    checked_temporary_folder()
    remove_stale_run_dirs()
    if given is not None:
        yield Path(given)
        return
    path = tempfile.mkdtemp(prefix=f"microdeblur-{kind}-{host_tag()}.{os.getpid()}.")
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def save_atomically(obj: Any, path: Path) -> None:
    """``torch.save`` under a temporary name, then rename."""
    with _temporary_folder_advice(path):
        write_atomically(path, lambda tmp: torch.save(obj, tmp))


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``module``'s state dict."""
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def checkpoint_path(resume_from: str | os.PathLike) -> Path:
    """The ``last.pt`` of ``resume_from`` (the file, or the checkpoint folder of a run)."""
    p = Path(resume_from)
    if p.is_dir():
        p = p / "last.pt"
    if not p.is_file():
        raise ValueError(
            f"resume_from={str(resume_from)!r}: no checkpoint there (give a last.pt file or the "
            "checkpoint_dir of an earlier run)"
        )
    return p


def load_training_checkpoint(p: Path) -> dict:
    """The content of a ``last.pt``; ``ValueError`` for any other file."""
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except PermissionError:  # another user's private last.pt: not 'no PyTorch file'
        raise ValueError(f"{p}: {permission_words(p)}") from None
    except Exception as exc:  # noqa: BLE001 - one clear message
        raise ValueError(f"{p}: not a readable training checkpoint "
                         f"({unreadable_reason(exc)})") from None
    if isinstance(ck, dict) and ck.get("format") == SELF_CHECKPOINT_FORMAT:
        raise ValueError(f"{p} holds a finetune --self run (adapted without a reference), not "
                         "a paired fine-tune or train run; resume it with finetune --self, or "
                         "give another checkpoint_dir= for this run")
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not a napari-microdeblur training checkpoint (last.pt)")
    return ck


def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """Step, total steps, regime, arch, seed, elapsed seconds, best metrics, config and the
    unprocessed input's validation figures (``baseline``) of a training checkpoint (a
    ``last.pt`` or its folder)."""
    p = checkpoint_path(path)
    ck = load_training_checkpoint(p)
    keys = ("step", "steps", "regime", "arch", "seed", "elapsed", "best_metrics", "extra",
            "config", "baseline", VALIDATION_SCORING_KEY)
    info = {k: ck.get(k) for k in keys}
    later = newer_best(p, ck)
    if later is not None:  # what a resume continues with (Trainer.load), said alike
        info["best_metrics"] = later["metrics"]
    return info


def newer_best(last_pt: Path, ck: Mapping[str, Any]) -> dict | None:
    """The ``best.pt`` beside ``last_pt`` (content ``ck``) where it holds a better validation
    than ``ck``'s best, made after it: a stop just after a validation writes best.* but not
    last.pt, whose state may be half a step on. None otherwise (missing, unreadable, another
    regime or network, not better)."""
    try:
        best = torch.load(Path(last_pt).parent / "best.pt", map_location="cpu",
                          weights_only=True)
    except Exception:  # noqa: BLE001 - no usable best.pt: last.pt's own best stands
        return None
    if not isinstance(best, dict) or best.get("regime") != ck.get("regime"):
        return None
    metrics, state, kept = best.get("metrics"), best.get("model"), ck.get("best_metrics") or {}
    if not isinstance(metrics, dict) or not isinstance(state, dict):
        return None
    psnr, step = metrics.get("val_psnr"), metrics.get("step")
    if not (isinstance(psnr, (int, float)) and math.isfinite(psnr) and isinstance(step, int)):
        return None
    if step <= int(kept.get("step", -1)) or set(state) != set(ck.get("model") or {}):
        return None
    # Regime.is_better's rule (its instances need a config): a keep-last regime keeps the
    # later step; else only a better PSNR, by min_gain_db over the starting weights
    if get_regime(ck["regime"]).checkpoint_criterion != KEEP_LAST and "val_psnr" in kept:
        gain = float((ck.get("config") or {}).get("min_gain_db") or 0.0)
        if not psnr > kept["val_psnr"] + (gain if kept.get("step", 0) == 0 else 0.0):
            return None
    return {"metrics": dict(metrics), "model": state}


def check_same_network(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """``ValueError`` (one line) unless ``state`` has the names and shapes of ``model``'s."""
    mine = model.state_dict()
    unlike = sorted(k for k in set(mine) | set(state)
                    if k not in mine or k not in state or mine[k].shape != state[k].shape)
    if unlike:
        raise ValueError(
            f"{where}: the checkpoint holds another network ({len(unlike)} weights differ in "
            f"name or shape, first {unlike[0]!r}); resume with the same architecture and config"
        )


#: What a resumed run must share with its checkpoint: the optimiser it restores keeps the saved
#: lr, and the progress and model card would report the new settings for the whole run
RESUME_SETTINGS = ("lr", "batch_size", "patch", "loss", "loss_weights", "anchor_weight",
                   "trainable", "replay", "replay_from", "intensity_jitter", "augment",
                   "discriminator")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def check_same_settings(saved: Mapping[str, Any] | None, now: Mapping[str, Any],
                        where: str) -> None:
    """``ValueError`` (one line) naming each of ``RESUME_SETTINGS`` in ``now`` that the saved
    run (its config; checkpoints without one are not checked) ran with another value."""
    differ = [k for k in RESUME_SETTINGS
              if k in now and k in (saved or {}) and not _same(saved[k], now[k])]
    if "replay" in differ and "replay_from" in differ:  # what it replays on follows from it
        differ.remove("replay_from")
    if differ:
        was = ", ".join(f"{k}={saved[k]!r}" for k in differ)
        given = ", ".join(f"{k}={now[k]!r}" for k in differ)
        raise ValueError(f"{where} was run with {was}, not {given}; resume with its settings, "
                         "or start a new run (from its best.safetensors) in another folder")


def check_resumable(ckdir: Path, model: nn.Module, steps: int,
                    settings: Mapping[str, Any]) -> None:
    """``ValueError`` (one line) unless the run in ``ckdir`` can continue with ``model`` (the
    same network), up to ``steps`` (more than it has run) with ``settings`` (its own)."""
    where = str(checkpoint_path(ckdir))
    ck = load_training_checkpoint(Path(where))
    arch = getattr(model, "arch_name", None)
    if ck.get("arch") and arch and ck["arch"] != arch:
        raise ValueError(f"resume: {where} holds a {ck['arch']!r} network, the weights "
                         f"to fine-tune are {arch!r}; give the same --weights as before")
    _check_psf_size(model, ck["model"], where)
    earlier = layouts.converted(ck.get("arch") or arch, model, ck["model"])
    if earlier is not None:  # converted as the resume will (``in_todays_layout``)
        _all_trained(settings.get("trainable", "all"), where, earlier)
    check_same_network(model, ck["model"] if earlier is None else earlier.tensors,
                       f"resume: {where}")
    done = int(ck.get("step", 0))
    if done >= steps:  # it would train nothing and write a card saying ``steps``
        raise ValueError(f"resume: {where} has already run {done} steps; give --steps "
                         f"above {done} (now {steps}) to continue it")
    # no discriminator config given is the default one (None), which the run may not have had
    check_same_settings(ck.get("config"), {"discriminator": None, **settings},
                        f"resume: {where}")


def check_same_start(ckdir: Path, card: Mapping[str, Any]) -> None:
    """``ValueError`` (one line) unless ``card`` (`train`'s: its description names the
    --weights it started from) has the description and licence of the run in ``ckdir``: a
    resume with other --weights or --license rewrote both on the card (licence 'unknown', the
    start's data gone). Checkpoints without a config are not checked."""
    where = checkpoint_path(ckdir)
    saved = (load_training_checkpoint(where).get("config") or {}).get("card")
    if not saved or all(saved.get(k) == card.get(k) for k in ("description", "license")):
        return
    was = str(saved.get("description", "")).partition(", starting from ")[2]
    now = str(card.get("description", "")).partition(", starting from ")[2]
    raise ValueError(
        f"resume: {where} was started from " + (f"--weights {was}" if was else "random weights")
        + f" with licence {saved.get('license')!r}, not from "
        + (f"--weights {now}" if now else "random weights")
        + f" with licence {card.get('license')!r}; "
        "resume with the same --weights and --license, or start a new run (from its "
        "best.safetensors) in another --checkpoint-dir")


# ------------------------------------------------------ networks of an earlier tensor layout


def in_todays_layout(ck: dict, model: nn.Module, groups: list[dict[str, Any]],
                     trainable: str) -> None:
    """Convert, in place, a last.pt being resumed (``ck``, its ``where`` set) whose network
    an earlier release saved in an earlier tensor layout (``weights_layouts``, the conversion
    a weights file gets on load): its weights and best weights (a newer best.pt's, where one
    is kept); the network's optimiser starts afresh in ``groups`` (the regime's parameter
    groups), its moments being of the old tensors. Said in one ``DeblurNote``. The run had
    been refused as 'another network' (c2f_unet) or stopped in a torch traceback
    (psf_cyclegan). A checkpoint of today's layout is left as it is."""
    import warnings

    from ..notes import DeblurNote

    arch = ck.get("arch") or getattr(model, "arch_name", None)
    where = ck["where"]
    _check_psf_size(model, ck["model"], where)  # before rescore_resumed's torch load
    earlier = layouts.converted(arch, model, ck["model"])
    if earlier is None:
        return
    _all_trained(trainable, where, earlier)
    later = newer_best(Path(where), ck)  # a best.pt of that release: the same old names
    ck["model"] = earlier.tensors
    later = later or newer_best(Path(where), ck)  # or one a resumed session wrote since
    if later is not None:  # taken here, converted: Trainer.load then finds none newer
        ck["best_state"], ck["best_metrics"] = later["model"], later["metrics"]
    if ck.get("best_state") is not None:
        best = layouts.converted(arch, model, ck["best_state"])
        ck["best_state"] = ck["best_state"] if best is None else best.tensors
    ck["optimizers"]["G"] = _restarted(ck["optimizers"]["G"], groups)
    psf = _cycle_phase_kept(ck, groups) if earlier.arch == "psf_cyclegan" else ""
    warnings.warn(f"resume: {where} was saved by an earlier release, with {earlier.words()}: "
                  f"its weights are converted ({earlier.how}) and the network's optimiser "
                  f"starts afresh (its moments were of the old tensors){psf}; the run's next "
                  "checkpoints are in today's layout", DeblurNote, stacklevel=2)


def _check_psf_size(model: nn.Module, tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """``ValueError`` naming psf_size where the run's PSF is of another size than ``model``'s:
    the checkpoint records no model config, and the default went from 20 to 21 px on
    2026-12-01, so a run of then made with the defaults meets a 21-px network today."""
    saved = tensors.get("psf.amplitude", tensors.get("psf.logits"))
    psf = getattr(model, "psf", None)
    if saved is None or psf is None or tuple(saved.shape) == tuple(psf.amplitude.shape):
        return
    size, now = int(saved.shape[0]), int(psf.amplitude.shape[0])
    then = " (the default before 2026-12-01)" if size == 20 and "psf.logits" in tensors else ""
    raise ValueError(f"resume: {where} holds a PSF of {size} px{then}, the network given has "
                     f"{now} px: build it with psf_size={size} (train: --config "
                     f"'{{\"psf_size\": {size}}}', or add \"psf_size\": {size} to your --config)")


def _cycle_phase_kept(ck: dict, groups: list[dict[str, Any]]) -> str:
    """Mark an earlier psf_cyclegan run as past today's PSF-only warm-up: releases of then had
    none (their cycle phase began at step 0), and a resume would otherwise go back into it;
    returns what the note says of the PSF's learning rate (its own group since then)."""
    state = dict(ck.get("regime_state") or {"pools": ck.get("pools")})
    if state.get("psf_warmup_ended") is None:
        state["psf_warmup_ended"] = 0
    ck["regime_state"] = state
    return (f"; the PSF now has its own learning rate ({groups[-1]['lr']:g}, --psf-lr / "
            f"psf_lr, where the run of then trained it at the network's)")


def _all_trained(trainable: str, where: str, earlier: layouts.EarlierLayout) -> None:
    """``ValueError`` unless an earlier layout's run resumes training every weight, as runs
    did then (``trainable`` came later): a part would be another run, and another optimiser
    layout than ``_restarted`` gives."""
    if trainable != "all":
        raise ValueError(f"resume: {where} was saved by an earlier release, with "
                         f"{earlier.words()}, which trained every weight; resume it with "
                         f"trainable='all' (--trainable all), not {trainable!r}")


def _restarted(saved: Mapping[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """An optimiser state with no moments, in the parameter ``groups`` of today's network
    (psf_cyclegan's PSF now has its own), each at its own peak lr (``Trainer``'s
    ``peak_lr``) and the saved run's other settings (betas, eps)."""
    kept = {k: v for k, v in saved["param_groups"][0].items()
            if k not in ("params", "lr", "peak_lr", "initial_lr")}
    restarted, start = [], 0
    for group in groups:
        count = len(group["params"])
        restarted.append({**kept, "lr": group["lr"], "peak_lr": group["lr"],
                          "params": list(range(start, start + count))})
        start += count
    return {"state": {}, "param_groups": restarted}


def _card_metrics(m: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if v is not None}


def write_best(
    directory: Path,
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    metrics: Mapping[str, Any],
    config,
    train,
    baseline: Mapping[str, Any] | None = None,
    regime=None,
) -> None:
    """``best.pt`` and, for registry-built models, ``best.safetensors`` (see
    :func:`write_weights`)."""
    save_atomically(
        {"model": dict(state), "metrics": dict(metrics), "regime": config.regime,
         VALIDATION_SCORING_KEY: VALIDATION_SCORING},
        directory / "best.pt",
    )
    write_weights(directory / "best.safetensors", model, state, metrics, config, train,
                  baseline, regime)


def write_weights(
    path: Path,
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    metrics: Mapping[str, Any],
    config,
    train,
    baseline: Mapping[str, Any] | None = None,
    regime=None,
) -> None:
    """``state`` as a ``.safetensors`` file whose card holds the training data and
    degradation of ``train``, the metrics, ``config`` and how the regime chose the kept
    weights; nothing for models the registry did not build (they have no card).
    ``baseline``: the unprocessed input's validation figures (its PSNR is written beside the
    weights' as ``val_psnr_input``); ``regime``: the run's, whose ``card_fields`` of these
    weights join the card's ``training`` record (psf_cyclegan: the PSF it started from)."""
    if not getattr(model, "arch_name", None):
        return
    copy_on_cpu = copy.deepcopy(model).to("cpu")
    copy_on_cpu.load_state_dict(dict(state))
    card = {
        "normalization": dict(data_mod.NORMALIZATION),
        "training_data": getattr(train, "description", ""),
        "degradation": getattr(train, "degradation", ""),
        **config.card,
        "training": {**config.for_card(),
                     "checkpoint_kept": get_regime(config.regime).checkpoint_criterion,
                     **(regime.card_fields(copy_on_cpu) if regime is not None else {})},
    }
    card["metrics"] = {**config.card.get("metrics", {}), **_card_metrics(metrics)}
    start = (baseline or {}).get("val_psnr")
    if "val_psnr" in card["metrics"] and isinstance(start, (int, float)) \
            and math.isfinite(start):
        # the closing line compared the weights with the input; the card showed their PSNR
        # alone, so info and the docks could not say they make images worse
        card["metrics"]["val_psnr_input"] = float(start)
    if metrics.get("step") == 0 and card.get("description"):
        # the card said "fine-tuned for at most N steps" of weights no step had changed
        card["description"] += starting_weights_kept(getattr(config, "min_gain_db", 0) or 0)
    with _temporary_folder_advice(path):
        save_weights(copy_on_cpu, path, card)


def starting_weights_kept(min_gain_db: float = 0.0) -> str:
    """What a card's description adds when the kept checkpoint is step 0 (no step beat the
    weights the run started from: random ones, for a network trained from scratch)."""
    if min_gain_db > 0:  # fine-tuning's margin: a smaller gain did not count
        return ("; kept the starting weights (no trained step beat them by "
                f"{min_gain_db:g} dB on validation)")
    return "; no step beat the starting weights (step 0): these are the starting weights"


# ------------------------------------------------------------- checkpoints of earlier releases


def _scorer(model: nn.Module, crops: list, device: torch.device, amp: str):
    """``score(identity, step)``: the run's own validation (``loop.validate_on_crops``) of
    ``model`` on ``crops``."""
    from .loop import validate_on_crops  # loop imports this module

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    def score(identity: bool = False, step: int = 0) -> dict[str, Any]:
        return validate_on_crops(model, crops, device, dtype, step, identity)

    return score


def rescore_resumed(ck: dict, model: nn.Module, crops: list, device: torch.device,
                    amp: str = "off") -> str | None:
    """Re-measure, in place, the scores of ``ck`` (a last.pt being resumed) that another
    validation scoring wrote (no or another ``VALIDATION_SCORING_KEY``): the best weights (a
    newer best.pt's where one is kept), the starting weights (``model``, as given) and the
    unprocessed input, on ``crops``; a resume compared later validations with numbers of
    another scale (33.42 dB kept as the best where the same weights score 37.75). Said in
    one ``DeblurNote`` line, old -> new, which is returned; None (nothing scored) for a
    checkpoint of this scoring or a run without validation."""
    import warnings

    from ..notes import DeblurNote

    if ck.get(VALIDATION_SCORING_KEY) == VALIDATION_SCORING or not crops \
            or not ck.get("history"):
        return None
    later = newer_best(Path(ck["where"]), ck) if ck.get("where") else None
    if later is not None:  # compared on one scale, before any number is re-measured
        ck["best_state"], ck["best_metrics"] = later["model"], later["metrics"]
    old = {"best": dict(ck.get("best_metrics") or {}), "input": dict(ck.get("baseline") or {}),
           "start": next((h for h in ck["history"] if h.get("step") == 0), {})}
    probe = copy.deepcopy(model).to(device)  # the caller's model keeps its weights and place
    score = _scorer(probe, crops, device, amp)
    new = {"input": {**score(identity=True), "what": "input (no deblurring)"},
           "start": score()}
    best_step = int(old["best"].get("step", 0))
    if ck.get("best_state") is not None and best_step > 0:
        probe.load_state_dict(ck["best_state"])
        new["best"] = score(step=best_step)
    else:
        new["best"] = new["start"]
    ck["baseline"], ck["best_metrics"] = new["input"], dict(new["best"])
    # the other validations' weights are gone: only these are on one scale with later ones
    ck["history"] = [new["start"]] + ([new["best"]] if best_step > 0 else [])
    ck[VALIDATION_SCORING_KEY] = VALIDATION_SCORING
    said = "; ".join(
        f"{word} {_db(old[k])} -> {new[k]['val_psnr']:.2f} dB"
        for word, k in ((f"best (step {best_step})", "best"), ("starting weights", "start"),
                        ("unprocessed input", "input")) if k != "best" or best_step > 0)
    line = (f"resume: {ck.get('where', 'the checkpoint')} holds the scores of an earlier "
            "release's validation, which may read on another scale; the earlier session's "
            f"scores were re-measured on this one: {said}")
    warnings.warn(line, DeblurNote, stacklevel=2)
    return line


def _db(metrics: Mapping[str, Any]) -> str:
    psnr = metrics.get("val_psnr")
    return f"{psnr:.2f}" if isinstance(psnr, (int, float)) else "not recorded"
