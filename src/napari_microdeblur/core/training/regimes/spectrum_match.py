"""Power-spectrum matching for a learned PSF (the PSF-CycleGAN regime's ``psf_spectrum`` term).

Blurring is linear, so the mean power spectrum of blurry patches is ``g |H|^2 P_sharp + n``:
the PSF's transfer function ``H`` times the sharp set's spectrum, a gain ``g`` for the two
sets' contrast, plus a flat noise floor ``n``. The regime keeps running means of both spectra
over every patch it draws (Hann-windowed, so patch borders do not leak) and fits ``|H|^2`` to
their ratio in the log domain, on the frequencies where the blurry spectrum stands above twice
its noise floor. This is feature matching (Salimans et al. 2016) with the power spectrum as the
fixed feature, as spectral losses for GANs do (Durall et al., CVPR 2020): it pins the width and
profile of the PSF, which the adversarial term alone left 15-20 % wide (flat-topped, tails cut),
while the adversarial term keeps the part a spectrum cannot see (the phase: which way a
non-symmetric PSF leans).
"""

from __future__ import annotations

import torch

#: the spectra live here, in float64 (Apple MPS has no float64; they are small)
STATS_DEVICE = torch.device("cpu")
#: frequencies (cycles per pixel, radius) whose blurry power is taken as the noise floor
NOISE_SHELL = 0.45
#: fit only where the blurry spectrum exceeds this many times its noise floor
SIGNAL_OVER_NOISE = 2.0
#: ... and this fraction of its peak: without noise, the far tail of the spectrum (down to
#: rounding) would dominate the log-domain fit
DYNAMIC_RANGE = 1e-4


def _window(shape: tuple[int, ...], device) -> torch.Tensor:
    w = torch.ones((), device=device)
    for n in shape:
        w = w[..., None] * torch.hann_window(n, periodic=False, device=device, dtype=torch.float64)
    return w


def _radial_frequency(shape: tuple[int, ...], device) -> torch.Tensor:
    grids = torch.meshgrid(*(torch.fft.fftfreq(n, device=device, dtype=torch.float64)
                             for n in shape), indexing="ij")
    return torch.sqrt(sum(g**2 for g in grids))


class SpectrumMatch:
    """Running mean power spectra of the blurry and the sharp patches, and the loss of a
    kernel against their ratio."""

    def __init__(self, spatial_dims: int):
        self.dims = spatial_dims
        self.sums: dict[str, torch.Tensor] = {}
        self.counts = {"blurry": 0, "sharp": 0}
        self._window_kernel: torch.Tensor | None = None
        self._fit_data: tuple | None = None  # what loss() needs of the spectra, per counts
        self.fitted_covariance: list | None = None  # of fit_gaussian's Gaussian (px^2)

    def _power(self, x: torch.Tensor) -> torch.Tensor:
        axes = tuple(range(-self.dims, 0))
        x = x.detach().to(STATS_DEVICE).double()  # moved first: MPS has no float64
        x = (x - x.mean(dim=axes, keepdim=True)) * _window(x.shape[-self.dims:], x.device)
        power = torch.fft.fftn(x, dim=axes).abs() ** 2
        return power.reshape(-1, *power.shape[-self.dims:])  # one spectrum per patch and channel

    def update(self, blurry: torch.Tensor, sharp: torch.Tensor) -> None:
        """Add a batch of blurry and of sharp patches (the same spatial size)."""
        for name, x in (("blurry", blurry), ("sharp", sharp)):
            p = self._power(x)
            self.sums[name] = self.sums.get(name, 0) + p.sum(0)
            self.counts[name] += p.shape[0]

    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict, device) -> None:
        del device  # the spectra stay on STATS_DEVICE
        self.sums = {k: v.to(STATS_DEVICE) for k, v in (state.get("sums") or {}).items()}
        self.counts = {**self.counts, **(state.get("counts") or {})}

    def _spectra_to_fit(self) -> tuple:
        """(sharp mean spectrum, noise floor, fitted frequencies, log blurry spectrum there);
        computed once per update, not once per loss (fit_gaussian calls loss 900 times)."""
        key = (self.counts["blurry"], self.counts["sharp"])
        if self._fit_data is None or self._fit_data[0] != key:
            blurry = self.sums["blurry"] / self.counts["blurry"]
            sharp = self.sums["sharp"] / self.counts["sharp"]
            radius = _radial_frequency(tuple(blurry.shape), blurry.device)
            noise = blurry[radius >= NOISE_SHELL].median()
            floor = torch.maximum(SIGNAL_OVER_NOISE * noise,
                                  DYNAMIC_RANGE * blurry[radius > 0].max())
            mask = (radius > 0) & (blurry > floor)
            self._fit_data = (key, sharp, noise, mask, blurry[mask].log())
        return self._fit_data[1:]

    def loss(self, kernel: torch.Tensor) -> torch.Tensor:
        """Mean squared log ratio of the model ``g |H|^2 P_sharp + n`` to the blurry spectrum,
        with ``g`` fitted (it carries no gradient: at its optimum the kernel's gradient is the
        same) and ``n`` the blurry spectrum's level in the outer frequency shell."""
        sharp, noise, mask, target = self._spectra_to_fit()
        shape = tuple(sharp.shape)
        if any(k > s for k, s in zip(kernel.shape, shape, strict=True)):
            raise ValueError(f"psf_spectrum: the PSF ({tuple(kernel.shape)}) is larger than the "
                             f"training patches ({shape}); use a larger patch")
        device = kernel.device
        # moved, then widened (MPS has no float64); the gradient flows back to the device
        kernel = kernel.to(STATS_DEVICE).double()
        if int(mask.sum()) < 4:
            return (kernel.sum() * 0.0).float().to(device)
        padded = kernel.new_zeros(shape)
        padded[tuple(slice(0, k) for k in kernel.shape)] = kernel
        transfer = torch.fft.fftn(padded).abs() ** 2  # |H|^2 does not depend on the shift
        model = self._windowed(transfer * sharp)[mask]
        log_gain = self._fit_gain(model.detach(), noise, target)
        loss = ((log_gain.exp() * model + noise).log() - target).pow(2).mean()
        return loss.float().to(device)  # narrowed on the host, then moved

    def _windowed(self, spectrum: torch.Tensor) -> torch.Tensor:
        """What the Hann window makes of ``spectrum``: its circular convolution with the
        window's own power spectrum (normalised). Applied after ``|H|^2`` as the blurry
        patches had it; without it a PSF as long as the patch's spectral resolution came out
        about 10 % short along that axis (3D, 24-px patches, measured)."""
        shape = tuple(spectrum.shape)
        if self._window_kernel is None or tuple(self._window_kernel.shape) != shape:
            w = torch.fft.fftn(_window(shape, spectrum.device)).abs() ** 2
            self._window_kernel = torch.fft.ifftn(w / w.sum())
        n = spectrum.numel()
        return (torch.fft.fftn(torch.fft.ifftn(spectrum) * self._window_kernel) * n).real

    @staticmethod
    def _fit_gain(model: torch.Tensor, noise: torch.Tensor, target: torch.Tensor,
                  iterations: int = 20) -> torch.Tensor:
        """Gauss-Newton on log g for sum (log(g model + noise) - target)^2."""
        log_gain = (target - model.clamp_min(1e-30).log()).median()
        for _ in range(iterations):
            fitted = log_gain.exp() * model
            residual = (fitted + noise).log() - target
            slope = fitted / (fitted + noise)
            log_gain = log_gain - (residual * slope).sum() / (slope**2).sum().clamp_min(1e-30)
        return log_gain.detach()

    def fit_gaussian(self, size: int, starts: tuple[float, ...] = (0.7, 1.5, 3.0),
                     iterations: int = 300) -> torch.Tensor:
        """The Gaussian (any covariance: elongated and turned too) of side ``size`` whose
        spectrum fits best, from a few isotropic starts (far from its width the loss is flat:
        the model drowns in the noise floor). The PSF layer starts from it."""
        dims = self.dims
        coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        grid = torch.stack(torch.meshgrid(*([coords] * dims), indexing="ij"), -1)
        lower = torch.tril_indices(dims, dims, -1)

        def gaussian(log_diag: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
            chol = torch.diag(torch.exp(-log_diag))  # Cholesky factor of the precision
            chol = chol.index_put((lower[0], lower[1]), off)
            k = torch.exp(-0.5 * (grid @ chol).pow(2).sum(-1))
            return k / k.sum()

        best, best_loss = None, float("inf")
        self.fitted_covariance = None
        for sigma in starts:
            log_diag = torch.full((dims,), float(torch.log(torch.tensor(sigma))),
                                  dtype=torch.float64, requires_grad=True)
            off = torch.zeros(lower.shape[1], dtype=torch.float64, requires_grad=True)
            opt = torch.optim.Adam([log_diag, off], lr=0.03)
            with torch.enable_grad():  # also when called from a no-grad context
                for _ in range(iterations):
                    opt.zero_grad()
                    self.loss(gaussian(log_diag, off)).backward()
                    opt.step()
            with torch.no_grad():
                kernel = gaussian(log_diag, off)
                loss = float(self.loss(kernel))
            if loss < best_loss:
                best, best_loss = kernel, loss
                chol = torch.diag(torch.exp(-log_diag.detach())).index_put(
                    (lower[0], lower[1]), off.detach())
                # what a weights card keeps of the start (psf_quality.start_record)
                self.fitted_covariance = torch.linalg.inv(chol @ chol.T).tolist()
        return best.float()
