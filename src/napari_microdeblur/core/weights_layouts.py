"""Weights saved by an earlier tensor layout of an architecture, loaded as they ran then.

Two architectures changed their tensors after weights had been trained with them; both old
layouts convert exactly, so ``core.checkpoint`` loads them with one note (the file is left as
it is; a fine-tune of them saves the current layout), ``info`` says so
(``checkpoint.earlier_layout``) and a resumed run of then converts its last.pt the same way
(``training.checkpoints.in_todays_layout``):

* ``c2f_unet`` before 2026-11-30 (eq. 3): a finer level's first convolution took its own
  input only; it now also takes the coarser level's upsampled output, ``out_channels`` more
  input channels. Zero weights on those channels compute what the old network did (weights
  trained at that time gave the very outputs of that revision, max difference 0.0).
* ``psf_cyclegan`` before 2026-12-01: the learned PSF was ``softmax(psf.logits)``; it is now
  ``psf.amplitude ** 2`` normalised to sum 1, so ``amplitude = sqrt(softmax(logits))`` is the
  same PSF (``psf-from-weights``); the deblurring generator did not change.

A file is taken for an old layout only where it has that layout's signature exactly: the
names, and the shapes of the tensors the change touched, every other tensor as the model has
it. Anything else stays a mismatch for the loader to refuse ("a damaged or edited file").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import NamedTuple

import torch

from .notes import DeblurNote

__all__ = ["CHANGED_ARCHS", "EarlierLayout", "converted", "upgraded"]

_FIRST_CONV = "nets.{}.enc.0.0.weight"  # c2f_unet: level n's first convolution


class EarlierLayout(NamedTuple):
    """Tensors of an earlier layout, in the model's: ``tensors``, converted; ``arch``;
    ``before`` (the date and the change: 'before 2026-11-30, when ...'); ``how`` (why the
    conversion computes what they did then)."""

    tensors: dict[str, torch.Tensor]
    arch: str
    before: str
    how: str

    def words(self) -> str:
        """'an earlier layout of c2f_unet (before 2026-11-30, when ...)'."""
        return f"an earlier layout of {self.arch} ({self.before})"

    def loaded(self) -> str:
        """What a load says of such weights (``upgraded``; ``checkpoint.earlier_layout``)."""
        return f"made with {self.words()}; converted as it loads ({self.how})"


def _shapes(tensors: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in tensors.items()}


def _c2f_before_eq3(model, tensors: Mapping[str, torch.Tensor]) -> list[str] | None:
    """The first convolutions to widen where ``tensors`` are c2f_unet weights of before eq. 3:
    the same names, every level but the coarsest with ``in_channels`` inputs where the model
    has ``in_channels + out_channels``, all else of the model's shapes; None otherwise."""
    cfg = model.config
    narrowed = [_FIRST_CONV.format(n) for n in range(cfg.levels - 1)]
    first = tensors.get(_FIRST_CONV.format(0))
    if not narrowed or first is None or first.ndim != 4 or first.shape[1] != cfg.in_channels:
        return None  # the cheap test first: today's files stop here
    if getattr(cfg, "global_skip", False) or getattr(cfg, "border_mirror", 0):
        return None  # options of later releases: no card of then has them
    want, have = _shapes(model.state_dict()), _shapes(tensors)
    if set(want) != set(have) or {k for k in want if want[k] != have[k]} != set(narrowed):
        return None
    widened = cfg.in_channels + cfg.out_channels
    if any(want[k][1] != widened or have[k] != (want[k][0], cfg.in_channels, *want[k][2:])
           for k in narrowed):
        return None
    return narrowed


def _c2f_converted(model, tensors) -> EarlierLayout | None:
    narrowed = _c2f_before_eq3(model, tensors)
    if narrowed is None:
        return None
    out = dict(tensors)
    for name in narrowed:
        old = tensors[name]
        # the coarser output's channels come after the level's own input (torch.cat order)
        new = torch.zeros((old.shape[0], model.config.in_channels + model.config.out_channels,
                           *old.shape[2:]), dtype=old.dtype)
        new[:, : old.shape[1]] = old
        out[name] = new
    return EarlierLayout(out, "c2f_unet", "before 2026-11-30, when each finer level began to "
                         "take the coarser level's output as input too",
                         "zero weights on that input compute what it did then")


def _psf_logits(model, tensors: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``tensors`` are psf_cyclegan weights of before 2026-12-01: the model's names
    with ``psf.logits`` for ``psf.amplitude``, of the same shape, every shape the model's."""
    if "psf.logits" not in tensors or "psf.amplitude" in tensors:
        return False
    if getattr(model.config, "psf_symmetry", "none") != "none":  # not a setting of then
        return False
    want = _shapes(model.state_dict())
    have = _shapes(tensors)
    have["psf.amplitude"] = have.pop("psf.logits")
    return want == have and bool(torch.isfinite(tensors["psf.logits"]).all())


def _psf_converted(model, tensors) -> EarlierLayout | None:
    if not _psf_logits(model, tensors):
        return None
    out = dict(tensors)
    logits = out.pop("psf.logits")
    # kernel then: softmax(logits); now: a**2 / sum(a**2), so a = sqrt(softmax) (sum 1)
    kernel = torch.softmax(logits.to(torch.float64).flatten(), 0).view(logits.shape)
    out["psf.amplitude"] = kernel.sqrt().to(logits.dtype)
    return EarlierLayout(out, "psf_cyclegan", "before 2026-12-01, when its PSF was kept as "
                         "softmax logits",
                         "the same PSF, as amplitudes; the deblurring network is unchanged")


_CONVERSIONS = {"c2f_unet": _c2f_converted, "psf_cyclegan": _psf_converted}
#: the architectures whose weights may be of an earlier layout (others need no tensor read)
CHANGED_ARCHS = frozenset(_CONVERSIONS)


def converted(arch: str | None, model: torch.nn.Module,
              tensors: Mapping[str, torch.Tensor]) -> EarlierLayout | None:
    """``tensors`` converted to ``model``'s layout, with what layout they were of, where they
    are ``arch`` weights of a known earlier layout; None otherwise (today's layout, or a
    mismatch for the caller to refuse). Says nothing: the callers word it for what they
    read (a weights file, a run's checkpoint, ``info``). ``model`` may be on the meta device:
    only its config and shapes are read."""
    convert = _CONVERSIONS.get(arch)
    return convert(model, tensors) if convert is not None else None


def upgraded(arch: str, model: torch.nn.Module,
             tensors: Mapping[str, torch.Tensor], where: str) -> Mapping[str, torch.Tensor]:
    """``tensors`` in ``model``'s layout where they are ``arch`` weights of a known earlier
    layout (one ``DeblurNote`` saying so), else ``tensors`` as given. ``model`` may be on the
    meta device: only its config and shapes are read."""
    earlier = converted(arch, model, tensors)
    if earlier is None:
        return tensors
    warnings.warn(f"{where}: {earlier.loaded()}; the file is left as it is", DeblurNote,
                  stacklevel=2)
    return earlier.tensors
