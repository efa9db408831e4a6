"""The PSF-aware Wiener U-Net (archs/wiener_unet.py) and its Method (core/psf_aware.py)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_microdeblur.core import classical
from napari_microdeblur.core.archs.wiener_unet import Fourier, batched_wiener, noise_sigma
from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS, auto_runs_in_3d
from napari_microdeblur.core.degrade import degrade, protocol_psf
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.psf import gaussian_psf, in_focus_share
from napari_microdeblur.core.psf_aware import (
    DEFAULT_PSF_AWARE,
    OPPONENT,
    from_opponent,
    psf_aware_method,
    to_opponent,
)
from napari_microdeblur.core.registry import build_model, get_arch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BUNDLED = DEFAULT_PSF_AWARE in BUNDLED_WEIGHTS


def _blobs(n=64, seed=0) -> np.ndarray:
    """A smooth test image in [0, 1]: a few Gaussian spots."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    img = np.zeros((n, n), np.float32)
    for _ in range(6):
        cy, cx, s = rng.uniform(8, n - 8), rng.uniform(8, n - 8), rng.uniform(2, 5)
        img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return img / img.max()


def _tiny(seed=0, tail=True):
    torch.manual_seed(seed)
    model = build_model("wiener_unet", get_arch("wiener_unet").tiny_config)
    if tail:  # the tail starts at zero; give it weights so the U-Net's part is exercised
        torch.nn.init.normal_(model.tail.weight, std=0.05)
    return model.eval()


def test_tiny_config_builds_with_registry_attributes():
    model = _tiny(tail=False)
    assert model.needs_psf and model.spatial_dims == 2
    assert (model.in_channels, model.out_channels) == (1, 1)
    assert model.size_divisor == 2 and model.receptive_field > 0
    assert sum(p.numel() for p in model.parameters()) < 5000


@pytest.mark.parametrize("shape", [(2, 1, 37, 45), (1, 1, 64, 64)])
def test_forward_with_psf_keeps_shape(shape):
    model = _tiny()
    x = torch.rand(shape)
    with torch.no_grad():
        y = model(x, torch.from_numpy(gaussian_psf(1.2)))
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_per_image_psfs_match_classical_wiener():
    """The batched Wiener step equals classical.wiener image by image."""
    x = torch.rand(2, 1, 40, 48, dtype=torch.float32)
    psfs = [gaussian_psf(1.5, size=9), np.pad(protocol_psf("B"), 1)]
    batch = batched_wiener(x, torch.from_numpy(np.stack(psfs)), torch.tensor([[0.01], [0.05]]))
    for i, (psf, bal) in enumerate(zip(psfs, (0.01, 0.05))):
        ref = classical.wiener(x[i : i + 1], psf, balance=bal)
        assert torch.allclose(batch[i : i + 1], ref, atol=1e-4)


def _with_data_step(mu: float):
    model = _tiny()
    config = model.config.model_dump() | {"data_step": mu}
    stepped = build_model("wiener_unet", config)
    missing = stepped.load_state_dict(model.state_dict(), strict=False).missing_keys
    assert missing == ["log_data_step"]
    return model, stepped.eval()


def test_data_step_takes_the_mean_from_the_data_and_detail_from_the_network():
    """The Laplacian vanishes at zero frequency, so the step's output has the mean the blurred
    input implies (the PSF sums to 1) whatever the network's mean; a huge weight keeps the
    network's result otherwise, a small one fits the data more closely."""
    psf = torch.from_numpy(gaussian_psf(1.5, size=13))
    x = torch.from_numpy(_blobs(64))[None, None] * 0.8 + 0.1
    model, stepped = _with_data_step(30.0)
    with torch.no_grad():
        y = model(x, psf)
        offset = y + 0.2  # a network result with the wrong mean
        fourier = Fourier(x, psf[None])
        fixed = fourier.data_step(offset, torch.tensor(30.0))
        kept = fourier.data_step(offset, torch.tensor(1e9))
        loose = fourier.data_step(offset, torch.tensor(1e-4))
    assert abs(float(offset.mean() - x.mean())) > 0.15
    assert abs(float(fixed.mean() - x.mean())) < 0.01
    change = kept - offset  # a huge weight changes the mean only
    assert float((change - change.mean()).abs().max()) < 1e-3
    from scipy import ndimage

    residual = [float(np.abs(ndimage.convolve(t[0, 0].numpy(), psf.numpy(), mode="reflect")
                             - x[0, 0].numpy())[16:-16, 16:-16].mean()) for t in (fixed, loose)]
    assert residual[1] < residual[0]  # a lighter weight fits the data more closely
    with torch.no_grad():
        out = stepped(x, psf)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert abs(float(out.mean() - x.mean())) < abs(float(y.mean() - x.mean())) + 1e-3


def test_data_step_weight_is_learned_and_saved(tmp_path):
    from napari_microdeblur.core.checkpoint import load_model, save_weights

    _, stepped = _with_data_step(30.0)
    x = torch.rand(2, 1, 32, 32)
    loss = stepped(x, torch.from_numpy(gaussian_psf(1.2))).mean()
    loss.backward()
    assert stepped.log_data_step.grad is not None and torch.isfinite(stepped.log_data_step.grad)
    with torch.no_grad():
        stepped.log_data_step.fill_(2.5)
    path = tmp_path / "w.safetensors"
    save_weights(stepped, path)
    loaded, card = load_model(path)
    assert card.config["data_step"] == 30.0 and float(loaded.log_data_step) == 2.5


def test_a_flat_term_keeps_a_defocus_disk_from_amplifying_noise(tmp_path):
    """A disk's transfer function crosses zero at low frequencies, where the Laplacian's |L|^2
    is tiny: with the flat term the noisy Wiener estimate is closer to the truth; the term is
    learned and saved, and without it the estimates are the Laplacian ones."""
    from scipy import ndimage

    from napari_microdeblur.core.checkpoint import load_model, save_weights
    from napari_microdeblur.core.psf import disk_psf

    rng = np.random.default_rng(0)
    sharp = torch.from_numpy(_blobs(96))[None, None]
    psf = torch.from_numpy(disk_psf(8.0))
    blurred = ndimage.convolve(sharp[0, 0].numpy(), psf.numpy(), mode="reflect")
    blurred = torch.from_numpy((blurred + rng.normal(0, 0.02, blurred.shape))
                               .astype(np.float32))[None, None]
    fourier = Fourier(blurred, psf[None])
    balance = torch.tensor([[1e-3]])
    error = [float(((fourier.wiener(balance, flat) - sharp)[..., 16:-16, 16:-16] ** 2).mean())
             for flat in (None, torch.tensor(1.0))]
    assert error[1] < 0.5 * error[0]
    model = _tiny()
    config = model.config.model_dump() | {"wiener_flat": 0.1}
    flat = build_model("wiener_unet", config)
    assert flat.load_state_dict(model.state_dict(), strict=False).missing_keys == [
        "log_wiener_flat"]
    flat(blurred, psf).mean().backward()
    assert flat.log_wiener_flat.grad is not None and torch.isfinite(flat.log_wiener_flat.grad)
    path = tmp_path / "flat.safetensors"
    save_weights(flat, path)
    loaded, card = load_model(path)
    assert card.config["wiener_flat"] == 0.1
    assert float(loaded.log_wiener_flat) == pytest.approx(float(np.log(0.1)))


def test_untrained_with_identity_psf_and_no_noise_returns_the_input():
    img = torch.from_numpy(_blobs())[None, None]
    model = _tiny(tail=False)
    with torch.no_grad():
        y = model(img, torch.ones(1, 1))
    assert float((y - img).abs().max()) < 1e-2


def test_noise_estimate_follows_the_noise():
    rng = np.random.default_rng(0)
    clean = torch.from_numpy(_blobs(128))[None, None]
    for sigma in (0.01, 0.05):
        noisy = clean + sigma * torch.from_numpy(rng.standard_normal((1, 1, 128, 128))).float()
        assert abs(float(noise_sigma(noisy)) - sigma) < 0.25 * sigma


def test_noise_estimate_is_the_bright_structures_noise_on_a_dark_background(monkeypatch):
    """Shot noise: a bright square on a dark background (a quarter of the image), noise 0.1
    on it and 0.01 around it. The whole-image median measures the background's noise; the
    estimate takes the bright blocks' level. Where the noise does not depend on brightness the
    two agree."""
    from napari_microdeblur.core.archs import wiener_unet

    rng = np.random.default_rng(0)
    signal = np.zeros((512, 512))
    signal[128:384, 128:384] = 1.0
    noisy = signal + rng.standard_normal(signal.shape) * np.where(signal > 0, 0.1, 0.01)
    shot = torch.from_numpy(noisy).float()[None, None]
    flat = (0.5 + 0.02 * torch.from_numpy(rng.standard_normal((2, 1, 256, 256)))).float()
    assert float(noise_sigma(shot)) == pytest.approx(0.1, rel=0.15)
    assert noise_sigma(flat).ravel().tolist() == pytest.approx([0.02, 0.02], rel=0.15)
    monkeypatch.setattr(wiener_unet, "BRIGHT_QUANTILE", None)  # psf_v1-v4's training estimate
    assert float(noise_sigma(shot)) < 0.02  # mostly the background's 0.01
    assert noise_sigma(flat).ravel().tolist() == pytest.approx([0.02, 0.02], rel=0.05)


def test_noise_estimate_given_the_psf_sees_through_blurred_texture(monkeypatch):
    """A sample with its own fine texture (white, like EM's), blurred, then noise 0.01 added:
    the diagonal Haar band also holds the blurred texture and reads high; the frequencies the
    PSF blocks hold only the added noise, and the estimate given the PSF comes down to it. It
    never goes up (white noise alone), and where the PSF blocks too few frequencies the estimate
stays as it was."""
    from scipy import ndimage

    from napari_microdeblur.core.archs import wiener_unet
    from napari_microdeblur.core.degrade import protocol_psf

    monkeypatch.setattr(wiener_unet, "BLOCKED_OTF", 0.01)  # measured, not the default
    rng = np.random.default_rng(2)
    psf = protocol_psf("A")
    texture = 0.5 + 0.4 * rng.standard_normal((256, 256))
    blurred = ndimage.convolve(texture, psf, mode="reflect")
    noisy = torch.from_numpy(blurred + 0.01 * rng.standard_normal(blurred.shape)).float()
    noisy = noisy[None, None]
    haar = float(noise_sigma(noisy))
    given_psf = float(noise_sigma(noisy, torch.from_numpy(psf)))
    assert haar > 1.3 * 0.01
    assert given_psf == pytest.approx(0.01, rel=0.1)
    flat = 0.5 + 0.02 * torch.randn(2, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    assert noise_sigma(flat, torch.from_numpy(psf)).ravel().tolist() == pytest.approx(
        noise_sigma(flat).ravel().tolist(), rel=0.1)
    monkeypatch.setattr(wiener_unet, "MIN_BLOCKED_FRACTION", 1.0)  # never enough: no check
    assert float(noise_sigma(noisy, torch.from_numpy(psf))) == pytest.approx(haar)
    monkeypatch.setattr(wiener_unet, "MIN_BLOCKED_FRACTION", 0.02)
    monkeypatch.setattr(wiener_unet, "BLOCKED_OTF", None)  # the default: no check
    assert float(noise_sigma(noisy, torch.from_numpy(psf))) == pytest.approx(haar)


def test_noise_estimate_takes_enough_bright_blocks_on_a_small_patch():
    """A 64 px patch has 1024 blocks: the brightest 1 % (10) would let a few hot blocks set
    the level; at least 64 blocks are used."""
    rng = np.random.default_rng(1)
    patch = 0.5 + 0.01 * rng.standard_normal((64, 64))
    patch[:4, :10] += 0.3 + 0.2 * rng.standard_normal((4, 10))  # 10 hot, very noisy blocks
    estimate = float(noise_sigma(torch.from_numpy(patch).float()[None, None]))
    assert estimate < 0.03


@pytest.mark.parametrize(
    "bad", [-gaussian_psf(1.0), np.zeros((5, 5), np.float32), np.full((5, 5), np.nan)]
)
def test_bad_psfs_raise_value_error(bad):
    model = _tiny()
    with pytest.raises(ValueError, match="psf"):
        psf_aware_method(model, bad)
    with pytest.raises(ValueError, match="psf"):
        model(torch.rand(1, 1, 16, 16), torch.from_numpy(bad))


def test_method_refuses_a_network_without_a_psf_input():
    gran = build_model("gran", get_arch("gran").tiny_config)
    with pytest.raises(ValueError, match="PSF"):
        psf_aware_method(gran, gaussian_psf(1.0))


def test_tiled_run_matches_the_whole_image():
    rng = np.random.default_rng(1)
    img = degrade(_blobs(160, seed=3), "A", seed=0) + rng.normal(0, 0.01, (160, 160))
    img = img.astype(np.float32)
    method = psf_aware_method(_tiny(), protocol_psf("A"), precision="float32")
    whole = deblur(img, method=method, tile=160, device="cpu")
    tiled = deblur(img, method=method, tile=96, overlap=method.default_overlap // 2 * 2,
                   device="cpu")
    assert np.abs(whole - tiled).max() < 0.02 * (img.max() - img.min())


def test_three_d_psf_uses_its_in_focus_plane_and_channels_run_one_by_one():
    wide, sharp = gaussian_psf(2.5, size=9), gaussian_psf(1.0, size=9)
    psf3 = np.stack([wide, sharp, wide])
    with pytest.warns(UserWarning, match=r"in-focus plane \(z=1 of 3\) is used for every"):
        method = psf_aware_method(_tiny(), psf3, precision="float32")
    assert "z=1" in method.parameters["psf"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 2D PSF (or one plane) is used as it is, no line
        psf_aware_method(_tiny(), sharp[None], precision="float32")
    assert method.parameters["colour"] == "channel by channel" and method.in_channels == 1
    rgb = np.stack([_blobs(48, seed=s) for s in range(3)], axis=-1)
    out = deblur(rgb, method=method, axes="YXC", device="cpu")
    assert out.shape == rgb.shape
    # each channel on its own: the same as deblurring the channel alone
    alone = deblur(rgb[..., 1], method=method, axes="YX", device="cpu")
    assert np.abs(out[..., 1] - alone).max() < 1e-4 * (alone.max() - alone.min()) + 1e-6
    stack = np.stack([_blobs(48, seed=s) for s in range(2)])
    assert deblur(stack, method=method, axes="ZYX", device="cpu").shape == stack.shape


def test_opponent_colour_space_is_orthonormal_and_round_trips():
    assert np.allclose(OPPONENT @ OPPONENT.T, np.eye(3), atol=1e-12)
    x = torch.rand(2, 3, 16, 20)
    opp = to_opponent(x)
    assert torch.allclose(opp[:, 0], x.mean(dim=1), atol=1e-6)  # luminance: the mean of R, G, B
    assert torch.allclose(from_opponent(opp), x, atol=1e-6)
    gray = to_opponent(torch.full((1, 3, 4, 4), 0.3))
    assert torch.allclose(gray[:, 1:], torch.full_like(gray[:, 1:], 0.5), atol=1e-6)


def test_rgb_runs_in_the_opponent_space():
    psf = gaussian_psf(1.6, size=11)
    method = psf_aware_method(_tiny(), psf, precision="float32", rgb=True)
    assert method.in_channels == method.out_channels == 3
    assert method.parameters["colour"] == "opponent"
    assert method.parameters["chroma_noise_scale"] == 1.3
    colour = np.stack([_blobs(48, seed=s) for s in range(3)], axis=-1)
    out = deblur(colour, method=method, axes="YXS", device="cpu")
    assert out.shape == colour.shape
    by_channel = psf_aware_method(_tiny(), psf, precision="float32")
    assert not np.allclose(out, deblur(colour, method=by_channel, axes="YXC", device="cpu"),
                           atol=1e-3)


def test_opponent_channels_share_the_lowest_noise_estimate(monkeypatch):
    """The luminance is told the lowest of the three channels' estimates, the chroma channels
    that times CHROMA_NOISE_SCALE (set to 2 here, to see it)."""
    from napari_microdeblur.core import psf_aware
    from napari_microdeblur.core.archs.wiener_unet import noise_sigma as estimate

    monkeypatch.setattr(psf_aware, "CHROMA_NOISE_SCALE", 2.0)

    model = _tiny()
    seen = []
    forward = model.forward

    def spy(x, psf=None, noise_scale=1.0, sigma=None, unet_pad=0):
        seen.append((estimate(x.float()).flatten(), sigma))
        return forward(x, psf, noise_scale=noise_scale, sigma=sigma, unet_pad=unet_pad)

    model.forward = spy
    rng = np.random.default_rng(0)
    colour = np.stack([_blobs(48, seed=s) for s in range(3)], axis=-1)
    colour = colour + rng.normal(0, 0.02, colour.shape).astype(np.float32)
    deblur(colour, method=psf_aware_method(model, gaussian_psf(1.6, size=11),
                                           precision="float32", rgb=True),
           axes="YXS", device="cpu")
    assert len(seen) == 3  # one call per opponent channel
    own = torch.stack([s[0] for s in seen])
    shared = [s[1] for s in seen]
    assert torch.allclose(shared[0], own.min(dim=0).values, rtol=1e-5)
    assert torch.equal(shared[1], shared[2])
    assert torch.allclose(shared[1], 2.0 * shared[0], rtol=1e-6)


def test_a_flat_tile_does_not_trip_the_safeguard():
    from napari_microdeblur.core import psf_safeguard

    flat = torch.full((1, 1, 64, 64), 0.5)
    psf = torch.from_numpy(gaussian_psf(3.0, size=25))
    # rounding-sized changes of a flat tile: below the limit (it was ~1e18 before the floor)
    ratio = psf_safeguard.blocked_correction_ratio(flat, flat + 1e-5 * torch.randn_like(flat),
                                                   psf)
    assert float(ratio) < 1
    # a real correction of a flat tile still counts
    ringing = flat + 0.05 * torch.randn_like(flat)
    assert float(psf_safeguard.blocked_correction_ratio(flat, ringing, psf)) > 100


@pytest.mark.skipif(not BUNDLED, reason=f"{DEFAULT_PSF_AWARE} is not bundled")
def test_rgb_in_the_opponent_space_beats_channel_by_channel_on_h_and_e():
    import tifffile

    ref = tifffile.imread(Path(__file__).parent / "data" / "he_kather_tumor_rgb_u8.tif")
    ref = ref.astype(np.float32) / 255
    scores = {}
    for axes in ("YXS", "YXC"):  # S: RGB (opponent); C: independent channels
        out = [deblur(degrade(ref, p, seed=0, channel_axis=-1), method=MethodSpec(
            "auto", psf=protocol_psf(p)), axes=axes, device="cpu") for p in ("A", "B")]
        scores[axes] = [evaluate(o, ref, channel_axis=-1)["psnr"] for o in out]
    assert all(s > c + 0.1 for s, c in zip(scores["YXS"], scores["YXC"])), scores
    assert MethodSpec("auto", psf="gaussian:1.6").resolve(rgb=True).in_channels == 3
    # a gray image stored as RGB: deblurred as one gray channel (a note says so), no fallback
    from napari_microdeblur.core.notes import DeblurWarning

    gray = np.repeat(degrade(ref[..., 1], "A", seed=0)[..., None], 3, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)
        out = deblur(gray, method=MethodSpec("auto", psf=protocol_psf("A")), axes="YXS",
                     device="cpu")
    assert np.array_equal(out, np.repeat(out[..., :1], 3, axis=-1))


@pytest.mark.skipif(not BUNDLED, reason=f"{DEFAULT_PSF_AWARE} is not bundled")
def test_auto_with_a_psf_resolves_to_the_psf_aware_network():
    method = MethodSpec("auto", psf="gaussian:1.6").check().resolve()
    assert method.name == DEFAULT_PSF_AWARE
    assert method.parameters["card"]["sha256"] == BUNDLED_WEIGHTS[DEFAULT_PSF_AWARE].sha256
    assert MethodSpec("auto").resolve().name != DEFAULT_PSF_AWARE
    with pytest.raises(ValueError, match="needs a PSF"):
        MethodSpec(DEFAULT_PSF_AWARE).check()


def _psf_3d(planes=3, in_focus=0.1) -> np.ndarray:
    """A widefield-like 3D PSF: a sharp in-focus plane holding ``in_focus`` of the light, the
    rest spread over wide out-of-focus planes."""
    c = planes // 2
    out = [gaussian_psf(2.5 + abs(z - c), size=9) * (1 - in_focus) / (planes - 1)
           for z in range(planes)]
    out[c] = gaussian_psf(0.7, size=9) * in_focus
    return np.stack(out)


def test_auto_with_a_3d_psf_on_a_z_stack_runs_richardson_lucy_in_3d():
    psf3 = _psf_3d(3)
    auto = MethodSpec("auto", psf=psf3)
    assert auto_runs_in_3d(auto, "ZYX", (4, 48, 48))
    assert auto_runs_in_3d(auto, "CZYX", (2, 4, 48, 48))
    assert not auto_runs_in_3d(auto, "YX", (48, 48))  # a 2D image: the in-focus plane
    assert not auto_runs_in_3d(auto, "ZYX", (3, 48, 48))  # cut to its one in-focus plane
    assert not auto_runs_in_3d(auto, "ZYXS", (4, 48, 48, 3))  # RGB: the opponent network
    assert not auto_runs_in_3d(MethodSpec("auto", psf="gaussian:1.6"), "ZYX", (4, 48, 48))
    assert not auto_runs_in_3d(MethodSpec("auto", psf=psf3[1:2]), "ZYX", (4, 48, 48))
    # half its light in focus, at the short-stack cap (bundled.SHORT_STACK_SHARE_FOR_3D; the
    # confocal PSFs measured held 0.37-0.49 and go 3D): the PSF-aware network, plane by plane
    confocal = MethodSpec("auto", psf=_psf_3d(3, in_focus=0.5))
    assert in_focus_share(confocal.psf_value) == pytest.approx(0.5, rel=1e-3)
    assert not auto_runs_in_3d(confocal, "ZYX", (4, 48, 48))
    assert not auto_runs_in_3d(MethodSpec("auto"), "ZYX", (4, 48, 48))
    # named methods run as named
    assert not auto_runs_in_3d(MethodSpec("richardson_lucy", psf=psf3), "ZYX", (4, 48, 48))
    stack = np.stack([_blobs(48, seed=s) for s in range(4)])
    with pytest.warns(UserWarning, match="Richardson-Lucy in 3D"):
        out = deblur(stack, method=auto.replace(iterations=7), axes="ZYX", device="cpu")
    rl = deblur(stack, method=MethodSpec("richardson_lucy", psf=psf3, iterations=7), axes="ZYX",
                device="cpu")
    np.testing.assert_array_equal(out, rl)


def test_a_widefield_psf_deeper_than_the_stack_is_judged_as_cut_to_it():
    """A measured PSF often has more planes than the sample stack: the deblur cuts it to the
    stack (psf.fit_psf_to_image) and 'auto' judges the cut PSF, which still goes 3D."""
    cone = np.stack([gaussian_psf(0.8 + 0.6 * abs(z - 10), size=33) for z in range(21)])
    auto = MethodSpec("auto", psf=cone)
    assert auto_runs_in_3d(auto, "ZYX", (14, 64, 64))  # cut to 13 planes
    assert auto_runs_in_3d(auto, "ZYX", (30, 64, 64))  # as it is
    assert not auto_runs_in_3d(auto, "ZYX", (2, 64, 64))  # cut to one plane: the network
    stack = np.stack([_blobs(64, seed=s) for s in range(14)])
    with pytest.warns(UserWarning, match="Richardson-Lucy in 3D"):
        out = deblur(stack, method=auto.replace(iterations=3), axes="ZYX", device="cpu")
    rl = deblur(stack, method=MethodSpec("richardson_lucy", psf=cone, iterations=3),
                axes="ZYX", device="cpu")
    np.testing.assert_array_equal(out, rl)


def test_auto_with_a_3d_psf_file_is_read_to_decide(tmp_path):
    import tifffile

    path = tmp_path / "psf3.tif"
    tifffile.imwrite(path, _psf_3d(5), photometric="minisblack")
    assert auto_runs_in_3d(MethodSpec("auto", psf=str(path)).check(), "ZYX", (6, 32, 32))
    # as deep as the stack: cut to its support, 3 planes holding most light in focus
    assert not auto_runs_in_3d(MethodSpec("auto", psf=str(path)).check(), "ZYX", (5, 32, 32))


HELD_OUT = SHARED / "fluorescence_cellprofiler_examples_extra" / "test" / "sbs_transfluor_gfp"


@pytest.mark.skipif(not BUNDLED, reason=f"{DEFAULT_PSF_AWARE} is not bundled")
@pytest.mark.skipif(not HELD_OUT.is_dir(), reason="needs ../shared/data (held-out set)")
def test_bundled_weights_beat_wiener_on_a_held_out_set():
    import tifffile

    sharp = tifffile.imread(sorted(HELD_OUT.glob("*.TIF"))[0])[128:320, 128:320]
    blurred = degrade(sharp, "A", seed=0)
    psf = protocol_psf("A")
    net = deblur(blurred, method=MethodSpec("auto", psf=psf), device="cpu")
    best_wiener = max(
        evaluate(deblur(blurred, method="wiener", psf=psf, balance=b, device="cpu"), sharp,
                 border=16)["psnr"]
        for b in (0.002, 0.005, 0.01, 0.02)
    )
    assert evaluate(net, sharp, border=16)["psnr"] > best_wiener


def test_noise_scale_smooths_and_is_refused_where_it_does_not_apply(tmp_path):
    """A larger noise scale regularises more (less high-frequency energy), reaches the Method's
    parameters, and is refused for classical methods, blind networks and bad values."""
    from napari_microdeblur.core.checkpoint import save_weights

    weights = tmp_path / "w.safetensors"
    save_weights(_tiny(), weights)
    rng = np.random.default_rng(0)
    img = (_blobs(96) + rng.normal(0, 0.02, (96, 96))).astype(np.float32)
    outs = {}
    for scale in (1.0, 8.0):
        spec = MethodSpec("auto", psf="gaussian:1.5", weights=str(weights), noise_scale=scale)
        assert spec.check().resolve().parameters["noise_scale"] == scale
        outs[scale] = deblur(img, method=spec, device="cpu")

    def roughness(a):
        return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())

    assert roughness(outs[8.0]) < roughness(outs[1.0])
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="noise_scale"):
            MethodSpec("auto", psf="gaussian:1.5", noise_scale=bad).check()
    with pytest.raises(ValueError, match="use balance"):
        MethodSpec("wiener", psf="gaussian:1.5", noise_scale=2.0).check()
    blind = tmp_path / "blind.safetensors"
    save_weights(build_model("gran", get_arch("gran").tiny_config), blind)
    with pytest.raises(ValueError, match="is blind"):
        MethodSpec("auto", weights=str(blind), noise_scale=2.0).resolve()


def test_the_method_mirrors_the_unet_input_beyond_the_border():
    """The U-Net's outer BORDER_PAD pixels are untrained (the training loss leaves them out),
    so the Method mirrors the U-Net's input (``unet_pad``) by that many pixels and crops; the
    Fourier steps see the tile as it is (extending the image would change their FFT grid)."""
    from napari_microdeblur.core.psf_aware import BORDER_PAD

    model = _tiny()
    psf = gaussian_psf(1.2, size=9)
    img = _blobs(64)
    method = psf_aware_method(model, psf, precision="float32", safeguard=False)
    from napari_microdeblur.core.inference import compute_normalization

    out = deblur(img, method=method, device="cpu",
                 normalization=compute_normalization(img, "YX", "none"))
    m = BORDER_PAD
    x = torch.from_numpy(img)[None, None]
    with torch.no_grad():
        direct = model(x, torch.from_numpy(psf), unet_pad=m)[0, 0].numpy()
        unpadded = model(x, torch.from_numpy(psf))[0, 0].numpy()
        image_padded = model(torch.nn.functional.pad(x, (m, m, m, m), mode="reflect"),
                             torch.from_numpy(psf), sigma=noise_sigma(x))[0, 0, m:-m, m:-m]
    np.testing.assert_allclose(out, direct, atol=1e-4)
    assert np.abs(out - image_padded.numpy()).max() > 1e-4  # not the image extended
    assert np.abs(out - unpadded)[:4].max() > 1e-3  # the border is where it differs
