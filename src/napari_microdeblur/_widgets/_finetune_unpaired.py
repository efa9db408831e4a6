"""The Fine-tune dock's runs on unpaired images alone (psf_cyclegan: blurry images and sharp
images of other fields, ``RegimePanel.unpaired_only``) and the PSF such a regime learns.

As `microdeblur train --regime psf_cyclegan --unpaired-blurry --unpaired-sharp` without
--blurry/--sharp, the cycle learns from the two Unpaired layers alone and is scored on a
synthetic blur of the Unpaired sharp images (protocols A, B and C of docs/evaluation.md): a
reference score, not a test of the blur it learns. The job is the dock's own
(``core.finetune.iter_finetune``): its one field is those synthetic pairs, built in the worker,
and its held-out band (the last share of the longer axis) is cut off the Unpaired sharp set the
cycle trains on, so that validation scores images it has not seen. No pairing check is made
(there is no pair of one field: the walkthrough's sharp image of another field was refused as
"not positively correlated").

After a run of a regime that learns the PSF, ``add_learned_psf`` writes it as the CLI's
--export-psf does (``core.psf_quality``: a degenerate kernel is replaced by the run's starting
PSF, with a warning) beside the kept weights, and adds it to the viewer as a layer: the PSF box
of the Deblur dock takes the file, and a layer is what a biologist looks at first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._finetune_files import checkpoint_dir, trained_pixel_size
from ._finetune_options import check_options
from ._finetune_regimes import SOURCE_ROWS
from ._layers import check_image_layer, guess_layer_axes, layer_data

#: the synthetic blurs of the validation images (train's default "mix", one image per protocol)
VALIDATION_PROTOCOLS = "ABC"


@dataclass
class UnpairedRun:
    """What an unpaired run trains on: the request's image sets (``sets``), and the Unpaired
    sharp images whose synthetic blur validates it (``sharp``, axes ``axes``)."""

    blurry_name: str
    sharp_name: str
    sharp: object
    axes: str
    sets: dict
    held_out: str


def _channels(layer, axes: str) -> int:
    shape = layer_data(layer).shape
    return next((int(shape[axes.index(a)]) for a in "SC" if a in axes), 1)


def unpaired_layers(combos: dict, regime: str) -> tuple:
    """(blurry, sharp) layers of the Unpaired rows (``combos``: source -> LayerCombo);
    ValueError, one line each: a row without a layer, an empty layer, one layer in both rows,
    images of different channels."""
    chosen = {}
    for source in ("unpaired", "unpaired_sharp"):
        layer = combos[source].value
        if layer is None:
            what = ("blurry images" if source == "unpaired" else "sharp images of other fields")
            raise ValueError(
                f"the {regime} regime trains on the Unpaired layers alone: choose {what} "
                f"under '{SOURCE_ROWS[source][0]}', or tick 'validate on the Blurry/Sharp pair' to "
                "draw them from the pair")
        check_image_layer(layer, SOURCE_ROWS[source][0].lower())
        chosen[source] = layer
    blurry, sharp = chosen["unpaired"], chosen["unpaired_sharp"]
    if blurry is sharp:
        raise ValueError(f"layer {blurry.name!r} is chosen as both Unpaired blurry and Unpaired "
                         "sharp; choose blurry images and sharp images of other fields")
    b_axes, s_axes = guess_layer_axes(blurry), guess_layer_axes(sharp)
    nb, ns = _channels(blurry, b_axes), _channels(sharp, s_axes)
    if nb != ns:
        raise ValueError(f"Unpaired blurry {blurry.name!r} has {nb} channel(s) ({b_axes}) but "
                         f"Unpaired sharp {sharp.name!r} has {ns} ({s_axes}); choose images "
                         "with the same channels (both RGB or both single-channel)")
    return blurry, sharp


def plan_unpaired(combos: dict, regime: str, *, val_fraction: float, patch: int,
                  divisor: int = 1) -> UnpairedRun:
    """The image sets of an unpaired run (``ImageSet``), the Unpaired sharp set without the
    band validation holds out (the job's band: ``core.pairs.check_band_fits``, which refuses
    images too small to hold it out, before any work)."""
    from ..core.finetune import ImageSet
    from ..core.pairs import check_band_fits

    blurry, sharp = unpaired_layers(combos, regime)
    b_axes, s_axes = guess_layer_axes(blurry), guess_layer_axes(sharp)
    data = layer_data(sharp)
    trained, held = data, "nothing held out (Validation fraction 0)"
    if val_fraction > 0:
        shape = tuple(int(n) for n in data.shape)
        try:
            axis, stop_train, start_val = check_band_fits(
                sharp.name, (shape[s_axes.index("Y")], shape[s_axes.index("X")]),
                val_fraction=val_fraction, min_train=patch, min_band=max(8, divisor))
        except ValueError as error:  # the core's line names the layer: say which row
            raise ValueError(f"Unpaired sharp {error}") from None
        letter = "YX"[axis - 1]
        key = [slice(None)] * len(s_axes)
        key[s_axes.index(letter)] = slice(0, stop_train)
        trained = data[tuple(key)]
        held = f"{letter} {start_val}-{shape[s_axes.index(letter)]}"
    sharp_name = f"layer {sharp.name!r}" + (
        f" less its band {held} (held out for validation)" if val_fraction > 0 else "")
    sets = {"unpaired": ImageSet(f"layer {blurry.name!r}", [layer_data(blurry)], b_axes or None),
            "unpaired_sharp": ImageSet(sharp_name, [trained], s_axes or None)}
    return UnpairedRun(blurry.name, sharp.name, data, s_axes, sets, held)


def synthetic_field(run: UnpairedRun):
    """The job's one field: every Unpaired sharp image blurred by each protocol, its
    input and target in the same units (``SyntheticData.validation_pairs``)."""
    from ..core import data
    from ..core.finetune import PairField

    pairs = []
    for protocol in VALIDATION_PROTOCOLS:
        pairs += data.SyntheticData(np.asarray(run.sharp), protocol, axes=run.axes,
                                    seed=0).validation_pairs()
    blurry = np.stack([p.input for p in pairs])  # (T, C, Y, X)
    sharp = np.stack([p.target for p in pairs])
    return PairField(f"synthetic blur of {run.sharp_name!r}", blurry, sharp, "TCYX")


def iter_unpaired_finetune(req, run: UnpairedRun):
    """Worker body: the synthetic field built here (not on the GUI thread), then the dock's
    job (``core.finetune.iter_finetune``) on it and ``run``'s image sets."""
    from ..core.finetune import iter_finetune

    req.fields = [synthetic_field(run)]
    return (yield from iter_finetune(req))


def learns_psf(outcome, regime: str) -> bool:
    from ..core.training import get_regime

    model = getattr(outcome, "model", None)  # adapting to one image has no regime ('')
    return (bool(regime) and model is not None and callable(getattr(model, "blur", None))
            and get_regime(regime).learns_psf)


def export_learned_psf(outcome, checkpoint_dir: str | None, path: Path):
    """Write the PSF learned by ``outcome.model`` to ``path`` as the CLI's --export-psf does
    (checked against the run's starting PSF in ``checkpoint_dir``'s ``last.pt``); the
    ``core.psf_quality.PsfExport`` written (its ``warning``: None or what to say)."""
    import tempfile

    from ..core.archs.psf_cyclegan import export_psf
    from ..core.files import copy_atomically
    from ..core.notes import DeblurWarning
    from ..core.psf_quality import choose_export, export_record, write_psf
    from ..core.training.checkpoints import load_training_checkpoint
    from ..core.training.regimes.cycle import psf_run_state

    state = None
    if checkpoint_dir:
        try:
            state = load_training_checkpoint(Path(checkpoint_dir) / "last.pt").get(
                "regime_state")
        except (ValueError, OSError):
            state = None
    run = psf_run_state(state)
    result = outcome.result
    with tempfile.TemporaryDirectory() as scratch:  # never a half-written file of the user's
        learned = export_psf(outcome.model, Path(scratch) / "learned_psf_raw.tif")
        start = run.get("start")
        chosen = choose_export(learned, None if start is None else start.numpy(),
                               run.get("start_kind"))
        record = export_record(
            chosen, weights=str(outcome.file), start_kind=run.get("start_kind"),
            steps=getattr(result, "steps_done", None),
            minutes=None if result is None else result.seconds / 60)
        tmp = Path(scratch) / "learned_psf.tif"
        with warnings.catch_warnings():  # the dock says the warning itself, once
            warnings.simplefilter("ignore", DeblurWarning)
            write_psf(tmp, chosen, record, overwrite=True)
        copy_atomically(tmp, path)
    return chosen


def add_learned_psf(viewer, outcome, checkpoint_dir: str | None, label: str) -> str:
    """Write the learned PSF beside the kept weights and add it as a layer; the sentence for
    the status ('' when it could not be written: said in a warning)."""
    from ._feedback import notify_warning

    path = Path(outcome.file).with_name(Path(outcome.file).stem + "_learned_psf.tif")
    try:
        chosen = export_learned_psf(outcome, checkpoint_dir, path)
    except (OSError, ValueError, TypeError) as error:
        notify_warning(f"could not write the learned PSF of {label!r}: {error}")
        return ""
    if chosen.warning:
        notify_warning(chosen.warning)
    kernel = np.asarray(chosen.kernel, np.float32)
    name = f"learned PSF ({label})"
    viewer.add_image(kernel / kernel.sum(), name=name, colormap="magma")
    what = ("learned PSF" if chosen.which == "learned"
            else "run's starting PSF (the learned one is degenerate)")
    return (f"The {what} is layer {name!r}, saved as {path} (the Deblur dock's PSF box takes "
            f"'layer:{name}' or the file, e.g. for Richardson-Lucy).")


class UnpairedRequestMixin:
    """``_unpaired_request`` of ``_finetune.FinetuneWidget`` (its spins, ``regimes`` and
    ``_base_model``): sets ``_unpaired``, the plan ``iter_unpaired_finetune`` runs."""

    def _unpaired_request(self, scratch: bool):
        """A run on the Unpaired layers alone (``_finetune_unpaired``): no pair, no pairing
        check; its field, a synthetic blur of the Unpaired sharp images that only validates
        the run, is built in the worker (``iter_unpaired_finetune``)."""
        combos, regime = self.regimes.source_combos, self.regimes.regime
        plan = plan_unpaired(combos, regime, val_fraction=float(self.val_spin.value()),
                             patch=int(self.patch_spin.value()))  # the layers, refused first
        blurry = combos["unpaired"].value
        model, card, name = self._base_model(3 if "S" in guess_layer_axes(blurry) else 1,
                                             scratch)
        self.regimes.check_model(model, name)
        divisor = int(getattr(model, "size_divisor", 1))
        if divisor > 8:  # the band must hold one of its inputs
            plan = plan_unpaired(combos, regime, val_fraction=float(self.val_spin.value()),
                                 patch=int(self.patch_spin.value()), divisor=divisor)
        self._psf_text = ""
        req = self._finetune.FinetuneRequest(
            mode="pair", layer_name=f"synthetic blur of {plan.sharp_name!r} (validation only)",
            axes="TCYX", model=model, base_label=name, base_card=card, align=False,
            match_intensity=False, steps=int(self.steps_spin.value()),
            patch=int(self.patch_spin.value()), batch_size=int(self.batch_spin.value()),
            lr=float(self.lr_spin.value()), val_fraction=float(self.val_spin.value()),
            minutes=self.minutes, regime=regime, device=self.device_row.device,
            checkpoint_dir=checkpoint_dir(), **plan.sets,
            pixel_size_um=trained_pixel_size(blurry, guess_layer_axes(blurry)))
        check_options(req)
        self._unpaired = plan
        return req
