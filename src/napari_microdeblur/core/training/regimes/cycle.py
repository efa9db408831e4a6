"""PSF-CycleGAN (Lim et al., "Blind deconvolution microscopy using cycle consistent CNN with
explicit PSF layer", Sec. 4): the deblurring network G_AB (the model) and its PSF layer G_BA
(``model.blur``) trained from unpaired blurry (A) and sharp (B) images, in 2D or 3D.

LSGAN adversarial losses of both directions over three-scale PatchGANs (3D ones for a 3D
model), cycle consistency (lambda_1 = 3) and the paper's sparsity penalty on the PSF
(lambda_2 = 0.01, as the scale-free ``PSFLayer.sparsity``: a plain L1 of a kernel that sums to
1 is constant); the discriminators see a history buffer of 50 generated images.

What makes the PSF converge (measured in benchmarks/papers_psf.py): the PSF layer has its own
optimiser group at ``psf_lr`` (default 0.01; the network's 1e-4 leaves it where it started);
the first ``psf_warmup`` steps (default 30 % of the steps and, under a time limit, of the time:
whichever ends first) fit only the PSF, by the re-blur direction alone (sharp -> PSF -> judged
against real blurry images by D_A), before the deblurring network joins;
the PSF learns from that adversarial term only (the cycle losses see it as a constant: their
gradient pulls it toward a delta); the blurry patches are not flipped or turned (that would
average the PSF over orientations); sharp patches are blurred with a margin and cropped; and two
small priors: a centring term (a shifted PSF explains unpaired data equally well) and a
roughness term against a spike. Ours, not the paper's (``psf_spectrum``, weight 10; 0 turns it
off): the PSF starts as the Gaussian whose transfer function best explains the ratio of the two
sets' power spectra, and a term keeps matching those spectra while it trains
(:mod:`.spectrum_match`). Before the first step a blurry set measurably sharper than the sharp
set (the two swapped: :mod:`.swap_check`) is refused; a fit that comes out a point while the
sets are not swapped (8-bit sets, measured) is said in one line and the run starts from the
configured PSF without the spectrum term, as ``psf_spectrum=0`` does. With the adversarial
term alone the learned PSF was 15-20 % too wide in 2D (flat-topped, tails cut) and 36-54 % in
3D. A network whose PSF is no longer its configured start (weights loaded to train further)
keeps its PSF. The regime's state keeps the PSF the run started from and the step the warm-up
ended (``psf_run_state`` reads them from a ``last.pt``): what an export checks the learned PSF
against (``core.psf_quality``); the weights' card records that check's figures
(``training.psf_start``: ``card_fields``) for `psf-from-weights`. Blurry images come from
``unpaired=`` (default: the training inputs), sharp ones from ``unpaired_sharp=`` (default: the
training targets), each drawn independently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...notes import DeblurWarning
from .base import Regime, as_float
from .spectrum_match import SpectrumMatch
from .swap_check import MIN_SWAP_RATIO, looks_swapped, swap_ratio

#: "a frame buffer containing 50 previously generated volumes" (Lim et al.)
HISTORY_SIZE = 50
#: batches of each set whose power spectra choose the PSF's starting Gaussian
SPECTRUM_BATCHES = 32
#: the widest sigma (px) of that Gaussian under which it is a point, and the run starts from the
#: configured PSF instead (``point_start``). Measured on the walkthrough's sets (64-px
#: patches): swapped 0.011-0.014, one set against itself 0.06-0.09, the right way round
#: 1.2 x 2.3 (true PSF 1.1 x 2.2); the truth blurred by a Gaussian of sigma 0.5, 0.7,
#: 1.0 px: 0.52, 0.77, 1.11; but the 8-bit HT29 set blurred by 2 px, the right way round:
#: 0.01 (benchmarks/cycle_swap_check.py), so a point is no sign of swapped sets
MIN_START_SIGMA = 0.25


class HistoryBuffer:
    """CycleGAN's image pool: with probability 1/2 answer a stored image and keep the new one."""

    def __init__(self, size: int = HISTORY_SIZE):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = []
        for img in batch.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(1, generator=generator)) < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=generator))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor | None:
        return torch.cat(self.images, 0).cpu() if self.images else None

    def load(self, t: torch.Tensor | None, device) -> None:
        self.images = [] if t is None else [t[i : i + 1].to(device) for i in range(t.shape[0])]


def _lsgan_discriminator_loss(disc, real, fake, generator) -> torch.Tensor:
    """Sum over the scales of 1/2 (D(real) - 1)^2 + 1/2 D(fake)^2."""
    return sum(
        0.5 * ((r.float() - 1) ** 2).mean() + 0.5 * (f.float() ** 2).mean()
        for r, f in zip(disc(real, generator), disc(fake, generator), strict=True)
    )


def _interior(x: torch.Tensor, margin: int, dims: int) -> torch.Tensor:
    """``x`` without ``margin`` pixels on every side of its ``dims`` spatial axes."""
    if margin == 0:
        return x
    return x[(Ellipsis, *(slice(margin, -margin),) * dims)]


def _adversarial(scores) -> torch.Tensor:
    """The generator's LSGAN term over the scales: sum of (D(fake) - 1)^2."""
    return sum(((x.float() - 1) ** 2).mean() for x in scores)


class PsfCycleGan(Regime, declared="psf_cyclegan"):  # its weights and why: regime_facts
    learns_psf = True
    trains_volumes = True
    extra_sources = ("unpaired", "unpaired_sharp")
    # flipping and turning the blurry patches would turn the PSF with them: the PSF learned
    # would be the average over the orientations (an astigmatic PSF came out round, measured)
    unaugmented_sources = ("unpaired",)
    discriminator_betas = (0.5, 0.999)  # CycleGAN's (Zhu et al. 2017)

    def __init__(self, config):
        super().__init__(config)
        self.pools = {"A": HistoryBuffer(), "B": HistoryBuffer()}
        self.spatial_dims = 2
        self.margin = 0
        self.spectrum = SpectrumMatch(2)
        self.psf_start: torch.Tensor | None = None  # the kernel the run started from (CPU)
        self.psf_start_kind: str | None = None  # "spectral fit", "configured" or "given"
        self.psf_start_covariance: list | None = None  # of a spectral-fit start (px^2)
        self.warmup_ended: int | None = None  # the first step of the cycle phase
        self.spectrum_off = False  # the spectral fit was a point: the term is left out

    def notes(self, sources: Mapping[str, Any]) -> list[str]:
        notes = []
        if getattr(sources.get("unpaired"), "augment", False):
            notes.append("psf_cyclegan: the unpaired blurry set is flipped and turned "
                         "(augment=True), so an anisotropic PSF is learned as its average over "
                         "orientations; build it with augment=False")
        missing = [name for name in self.extra_sources if sources.get(name) is None]
        if missing:
            notes.append(f"psf_cyclegan: no {' or '.join(missing)} set given; its patches are "
                         "drawn from the training pairs, independently of their partners")
        return notes

    def check_model(self, model: nn.Module) -> None:
        if not callable(getattr(model, "blur", None)) or not hasattr(model, "psf"):
            raise ValueError(
                "regime='psf_cyclegan' needs a model with a PSF layer (model.blur), such as "
                "build_model('psf_cyclegan', ...)"
            )
        self.spatial_dims = int(getattr(model, "spatial_dims", 2))
        self.margin = int(model.psf.size) // 2
        self.spectrum = SpectrumMatch(self.spatial_dims)
        c = self.config  # None when the CLI checks the model before building the config
        if c is not None and c.weights()["psf_spectrum"] and model.psf.size > c.patch:
            raise ValueError(
                f"psf_cyclegan: the PSF ({model.psf.size} px) is larger than the training "
                f"patches ({c.patch} px), so their spectra cannot fit it; give a "
                f"patch of at least {model.psf.size} px or a smaller psf_size")

    def patch_margin(self, source: str) -> int:
        # sharp patches are blurred with a margin and cropped: a blur padded at the patch
        # border leaves artefacts the discriminator would learn to spot instead of the blur
        return self.margin if source == "unpaired_sharp" else 0

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        psf = list(model.psf.parameters())
        ids = {id(p) for p in psf}
        network = [p for p in model.parameters() if id(p) not in ids]
        return [{"params": network, "lr": self.config.lr},
                {"params": psf, "lr": self.config.psf_learning_rate()}]

    def build_discriminator(self, channels: int, overrides: Mapping[str, Any]) -> nn.Module:
        from ...archs.psf_cyclegan import MultiScalePatchDiscriminator

        kw = {"spatial_dims": self.spatial_dims, "in_channels": channels, **overrides}
        return nn.ModuleDict(
            {"A": MultiScalePatchDiscriminator(**kw), "B": MultiScalePatchDiscriminator(**kw)}
        )

    def probe_discriminator(self, discriminator: nn.Module, probe: torch.Tensor) -> None:
        discriminator["A"](probe)

    def psf_priors(self, trainer, blurry: torch.Tensor, sharp: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted sparsity, roughness, centring and spectrum terms of the PSF, and their
        values; ``blurry`` and ``sharp`` (same size) join the spectra first."""
        w, layer = trainer.weights, trainer.model.psf
        terms = {"psf": layer.sparsity(), "psf_roughness": layer.roughness(),
                 "psf_centre": layer.off_centre()}
        if w["psf_spectrum"]:
            self.spectrum.update(blurry, sharp)
            terms["psf_spectrum"] = self.spectrum.loss(layer.kernel())
        total = sum(w[name] * value for name, value in terms.items())
        return total, {name: as_float(value) for name, value in terms.items()}

    def gather_spectra(self, trainer) -> None:
        """``SPECTRUM_BATCHES`` batches of each set into the running spectra."""
        for _ in range(SPECTRUM_BATCHES):
            a = trainer.sample_source("unpaired", "input")
            b = trainer.sample_source("unpaired_sharp", "target")
            self.spectrum.update(a, b)

    def start_psf_from_spectra(self, trainer) -> bool:
        """Before the first step: the PSF starts as the Gaussian whose transfer function best
        explains the two sets' power spectra (``SPECTRUM_BATCHES`` batches of each), instead of
        its configured width (a start far from the truth left the 3D PSF where it began).
        False where that Gaussian is a point: the configured PSF is kept (``point_start``)."""
        self.gather_spectra(trainer)
        layer = trainer.model.psf
        with torch.no_grad():
            kernel = self.spectrum.fit_gaussian(layer.size)
            if point_start(trainer, kernel):
                return False
            layer.amplitude.copy_(kernel.to(layer.amplitude).sqrt())
        return True

    def start_psf(self, trainer) -> None:
        """The first step of a run: sets that look swapped are warned of (``warn_if_swapped``);
        a fresh network's PSF starts from the spectra (with the spectrum term); a PSF trained
        or loaded before (``train --weights``) is kept, as the restart replaced it (an exported
        fluo_v1 PSF was this data's Gaussian fit)."""
        warn_if_swapped(trainer)
        fresh = configured_start(trainer.model)
        spectra = bool(trainer.weights["psf_spectrum"])
        fitted = False
        if spectra and fresh:
            fitted = self.start_psf_from_spectra(trainer)
            self.spectrum_off = not fitted
        elif spectra:
            self.gather_spectra(trainer)  # the spectrum term starts from as many patches
        self.leave_out_spectrum(trainer)
        self.psf_start_kind = ("spectral fit" if fitted else "configured") if fresh else "given"
        self.psf_start = trainer.model.psf.kernel().detach().to("cpu", torch.float32).clone()
        self.psf_start_covariance = self.spectrum.fitted_covariance if fitted else None

    def card_fields(self, model: nn.Module) -> dict[str, Any]:
        """``psf_start`` (``psf_quality.start_record``): `psf-from-weights` checks the file's
        PSF against the run's start as `train --export-psf` does, with no run state to read."""
        if self.psf_start is None or not hasattr(model, "psf"):
            return {}
        from ...psf_quality import start_record

        learned = model.psf.kernel().detach().to("cpu", torch.float32).numpy()
        return {"psf_start": start_record(learned, self.psf_start.numpy(), self.psf_start_kind,
                                          self.psf_start_covariance)}

    def leave_out_spectrum(self, trainer) -> None:
        """The spectrum term off for this run where its fit was a point (it would pull the PSF
        to that point); a copy of the weights, so the caller's stay as given."""
        if self.spectrum_off and trainer.weights.get("psf_spectrum"):
            trainer.weights = {**trainer.weights, "psf_spectrum": 0.0}

    def in_psf_warmup(self, trainer) -> bool:
        """Whether this step fits the PSF alone: within ``psf_warmup_steps`` and, under a time
        limit, ``psf_warmup_seconds``; once ended, never again (a resume with more --minutes
        would have moved the time share past steps the cycle already ran)."""
        if self.warmup_ended is not None:
            return False
        c = self.config
        seconds = c.psf_warmup_seconds()
        if trainer.step < c.psf_warmup_steps() and (seconds is None or trainer.elapsed < seconds):
            return True
        self.warmup_ended = trainer.step
        return False

    def step(self, trainer) -> dict[str, float]:
        if trainer.step == 0 and self.psf_start is None:  # a fresh run: a resumed one keeps it
            self.start_psf(trainer)
        self.leave_out_spectrum(trainer)  # a resumed run too
        if self.in_psf_warmup(trainer):
            return self.psf_step(trainer)
        return self.cycle_step(trainer)

    def psf_step(self, trainer) -> dict[str, float]:
        """Fit the PSF alone: blurred sharp patches against real blurry ones (D_A)."""
        gen, m, d_a = trainer.generator, trainer.model, trainer.discriminator["A"]
        a = trainer.sample_source("unpaired", "input")
        b = trainer.sample_source("unpaired_sharp", "target", self.margin)
        d_a.requires_grad_(False)
        with trainer.autocast():
            fake_a = _interior(m.blur(b), self.margin, self.spatial_dims)
            adv_a = _adversarial(d_a(fake_a, gen))
        priors, terms = self.psf_priors(trainer, a, _interior(b, self.margin, self.spatial_dims))
        total = trainer.weights["adversarial"] * adv_a + priors
        trainer.backward_step(total, "G", m.psf.parameters())
        d_a.requires_grad_(True)
        with trainer.autocast():
            loss_d = _lsgan_discriminator_loss(d_a, a, self.pools["A"].query(fake_a, gen), gen)
        trainer.backward_step(loss_d, "D", d_a.parameters())
        return {"loss": as_float(total), "adversarial": as_float(adv_a), **terms,
                "discriminator": as_float(loss_d)}

    def cycle_step(self, trainer) -> dict[str, float]:
        w = trainer.weights
        gen = trainer.generator
        a = trainer.sample_source("unpaired", "input")  # blurry domain A
        b_wide = trainer.sample_source("unpaired_sharp", "target", self.margin)  # sharp B
        m, r, dims = trainer.model, self.margin, self.spatial_dims
        b = _interior(b_wide, r, dims)
        discs = trainer.discriminator
        d_a, d_b = discs["A"], discs["B"]
        discs.requires_grad_(False)
        with trainer.autocast():
            fake_b = m(a)
            # the cycle trains G_AB through a PSF it does not move: its gradient on the PSF
            # favours a narrower one (a delta and an identity G close both cycles)
            rec_a = m.blur(fake_b, fixed_psf=True)
            fake_a = _interior(m.blur(b_wide), r, dims)
            rec_b = m(_interior(m.blur(b_wide, fixed_psf=True), r, dims))
            adv = _adversarial(d_b(fake_b, gen)) + _adversarial(d_a(fake_a, gen))
        # rec_a's border was blurred from padding: compare the interior
        cycle = (F.l1_loss(_interior(rec_a.float(), r, dims), _interior(a, r, dims))
                 + F.l1_loss(rec_b.float(), b))
        priors, terms = self.psf_priors(trainer, a, b)
        total = w["adversarial"] * adv + w["cycle"] * cycle + priors
        trainer.backward_step(total, "G", m.parameters())
        discs.requires_grad_(True)
        hist_b = self.pools["B"].query(fake_b, gen)
        hist_a = self.pools["A"].query(fake_a, gen)
        with trainer.autocast():
            loss_db = _lsgan_discriminator_loss(d_b, b, hist_b, gen)
            loss_da = _lsgan_discriminator_loss(d_a, a, hist_a, gen)
        loss_d = loss_da + loss_db
        trainer.backward_step(loss_d, "D", discs.parameters())
        return {
            "loss": as_float(total),
            "adversarial": as_float(adv),
            "cycle": as_float(cycle),
            **terms,
            "discriminator": as_float(loss_d),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"pools": {k: p.state() for k, p in self.pools.items()},
                "spectrum": self.spectrum.state_dict(), "psf_start": self.psf_start,
                "psf_start_kind": self.psf_start_kind, "psf_warmup_ended": self.warmup_ended,
                "psf_start_covariance": self.psf_start_covariance,
                "psf_spectrum_off": self.spectrum_off}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        pools = state.get("pools") or {}
        for k, p in self.pools.items():
            p.load(pools.get(k), device)
        self.spectrum.load_state_dict(state.get("spectrum") or {}, device)
        run = psf_run_state(state)
        self.psf_start, self.psf_start_kind = run["start"], run["start_kind"]
        self.psf_start_covariance = state.get("psf_start_covariance")
        self.warmup_ended = run["warmup_ended"]
        self.spectrum_off = bool(state.get("psf_spectrum_off", False))


def kernel_sigmas(kernel: torch.Tensor) -> torch.Tensor:
    """The standard deviations (px) of ``kernel`` along its principal axes, smallest first,
    from its second moments."""
    k = kernel.detach().to("cpu", torch.float64)
    k = k / k.sum()
    grids = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in k.shape),
                           indexing="ij")
    centred = [g - (k * g).sum() for g in grids]
    cov = torch.stack([torch.stack([(k * a * b).sum() for b in centred]) for a in centred])
    return torch.linalg.eigvalsh(cov).clamp_min(0).sqrt()


def _set_words(trainer, name: str, role: str, fallback: str) -> str:
    """'the blurry set (--unpaired-blurry sharp/)': the set's own description, which the CLI
    makes of its option (the keyword would leak into a CLI line)."""
    source = trainer.setup.sources.get(name)
    return f"the {role} set ({getattr(source, 'description', '') or fallback})"


def warn_if_swapped(trainer) -> None:
    """One warning before the first step where the blurry set is measurably sharper than the
    sharp one (``swap_check``: ``MIN_SWAP_RATIO`` times, by the band energy at 2-4 px over 4-8
    px): the two look swapped, and the run would learn a blur of the sharp images. A warning,
    not a refusal: right-way sets read up to 1.11 and two halves of one set up to 1.32, so a
    refusal could stop a run that is right, with nothing to override it."""
    sources = trainer.setup.sources
    ratio = swap_ratio(sources.get("unpaired"), sources.get("unpaired_sharp"))
    if not looks_swapped(ratio):
        return
    blurry = _set_words(trainer, "unpaired", "blurry", "the training inputs")
    sharp = _set_words(trainer, "unpaired_sharp", "sharp", "the training targets")
    import warnings

    warnings.warn(
        f"psf_cyclegan: {blurry} looks sharper than {sharp} (its fine detail {ratio:.2f} times "
        f"the sharp set's; said from {MIN_SWAP_RATIO:g}): are the two swapped? If so, stop and "
        "give the blurry images as the blurry set and the sharp ones as the sharp set",
        DeblurWarning, stacklevel=2)


def point_start(trainer, kernel: torch.Tensor) -> bool:
    """Whether the Gaussian fitted to the two sets' spectra is a point (widest sigma under
    ``MIN_START_SIGMA``), said in one line: the fit failed (8-bit sets, measured; or the sets
    are swapped, ``warn_if_swapped``) and the run starts from the configured PSF without the
    spectrum term, as ``psf_spectrum=0`` does."""
    widest = float(kernel_sigmas(kernel).max())
    if widest >= MIN_START_SIGMA:
        return False
    import warnings

    blurry = _set_words(trainer, "unpaired", "blurry", "the training inputs")
    sharp = _set_words(trainer, "unpaired_sharp", "sharp", "the training targets")
    warnings.warn(
        f"psf_cyclegan: the Gaussian fitted to the power spectra of {blurry} and {sharp} is a "
        f"point (sigma {widest:.2f} px): they show no blur to start from; the PSF starts "
        "from the configured one, without the spectrum term, as psf_spectrum=0 "
        "(--psf-spectrum 0) does",
        DeblurWarning, stacklevel=2)
    return True


def configured_start(model: nn.Module) -> bool:
    """Whether ``model``'s PSF is still the Gaussian its config starts it from (a freshly
    built network), not one trained or loaded from weights."""
    layer = model.psf
    sigma = getattr(getattr(model, "config", None), "psf_init_sigma", None)
    if sigma is None:  # not built from a config: nothing to tell a trained PSF by
        return True
    built = type(layer)(layer.spatial_dims, layer.size, sigma, layer.symmetry).amplitude
    amplitude = layer.amplitude.detach().to("cpu", torch.float32)
    return amplitude.shape == built.shape and torch.allclose(amplitude, built, rtol=0,
                                                             atol=1e-7)


def psf_run_state(regime_state: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a run's regime state (``last.pt``'s ``regime_state``) says of its PSF: ``start``
    (the kernel it started from, a CPU tensor, or None), ``start_kind`` ("spectral fit",
    "configured", "given" or None) and ``warmup_ended`` (the first step of the cycle phase;
    None: the run ended inside the PSF-only warm-up, or a checkpoint older than this)."""
    state = regime_state or {}
    start = state.get("psf_start")
    ended = state.get("psf_warmup_ended")
    return {"start": start if isinstance(start, torch.Tensor) else None,
            "start_kind": state.get("psf_start_kind"),
            "warmup_ended": int(ended) if ended is not None else None}
