"""Classical settings found per image: Richardson-Lucy's iteration count by a held-out check
(classical.held_out_iterations; iterations='auto', and 'auto' with a widefield-like 3D PSF)
and Wiener's balance by generalised cross-validation (psf_estimate.gcv_balance;
balance='auto')."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from napari_microdeblur.core.classical import held_out_iterations
from napari_microdeblur.core.image_settings import central_volume
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import gaussian_psf


def _cone(planes=9, size=15) -> np.ndarray:
    """A widefield-like 3D PSF: a sharp in-focus plane, wider planes above and below."""
    psf = np.stack([gaussian_psf(0.8 + 0.8 * abs(z - planes // 2), size=size)
                    for z in range(planes)])
    return psf / psf.sum()


def _textured_stack(shape=(16, 96, 96), seed=0) -> np.ndarray:
    """Dense texture (smoothed noise), like the volume EM on which 30 iterations overfit."""
    rng = np.random.default_rng(seed)
    field = fftconvolve(rng.random(shape), np.ones((3, 3, 3)) / 27, mode="same")
    return ((field - field.min()) / np.ptp(field)).astype(np.float32)


def _blurred(sharp, psf, peak, seed=1) -> np.ndarray:
    pad = [(s // 2, s // 2) for s in psf.shape]
    out = np.clip(fftconvolve(np.pad(sharp, pad, mode="reflect"), psf, mode="valid"), 0, None)
    rng = np.random.default_rng(seed)
    return (rng.poisson(out * peak) / peak if peak else out).astype(np.float32)


def test_noise_stops_richardson_lucy_earlier():
    sharp, psf = _textured_stack(), _cone()
    clean = held_out_iterations(_blurred(sharp, psf, None), psf, max_iterations=30)
    some = held_out_iterations(_blurred(sharp, psf, 200.0), psf, max_iterations=30)
    much = held_out_iterations(_blurred(sharp, psf, 10.0), psf, max_iterations=30)
    assert clean == 30  # nothing to overfit: it keeps improving
    assert much < some < 30
    # deterministic, and never more than asked
    noisy = _blurred(sharp, psf, 10.0)
    assert held_out_iterations(noisy, psf, max_iterations=30) == much
    assert held_out_iterations(noisy, psf, max_iterations=much - 1) <= much - 1


def test_stopped_where_the_sharp_stack_is_best_recovered():
    """The count the check picks scores near the best RL count against the sharp stack."""
    from napari_microdeblur.core.metrics import psnr

    sharp, psf = _textured_stack(seed=2), _cone()
    noisy = _blurred(sharp, psf, 20.0, seed=3)
    scores = {}
    for n in (2, 4, 8, 16, 30):
        out = deblur(noisy, method=MethodSpec("richardson_lucy", psf=psf, iterations=n),
                     axes="ZYX", device="cpu")
        scores[n] = psnr(out, sharp, data_range=1.0)
    chosen = held_out_iterations(noisy, psf, max_iterations=30)
    out = deblur(noisy, method=MethodSpec("richardson_lucy", psf=psf, iterations=chosen),
                 axes="ZYX", device="cpu")
    assert psnr(out, sharp, data_range=1.0) > max(scores.values()) - 0.5
    assert psnr(out, sharp, data_range=1.0) > scores[30] + 1.0


def test_too_few_pixels_to_hold_out_run_the_default_and_bad_counts_are_refused():
    psf = _cone(3, 5)
    tiny = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    assert held_out_iterations(tiny, psf, max_iterations=12) is None  # cannot tell
    with pytest.warns(UserWarning, match=r"30 iterations \(iterations 'auto': the image is too "
                                         "small"):
        deblur(tiny[1], method=MethodSpec("richardson_lucy", psf=psf[1], iterations="auto"),
               device="cpu")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_iterations"):
            held_out_iterations(tiny, psf, max_iterations=bad)


def test_auto_on_a_noisy_stack_runs_the_count_the_check_finds():
    sharp, psf = _textured_stack(), _cone()
    noisy = _blurred(sharp, psf, 10.0)
    chosen = held_out_iterations(noisy, psf, max_iterations=30)
    assert chosen < 30
    with pytest.warns(UserWarning, match=f"Richardson-Lucy in 3D \\({chosen} iterations: past "
                                          "that it fitted the noise"):
        out = deblur(noisy, method=MethodSpec("auto", psf=psf), axes="ZYX", device="cpu")
    rl = deblur(noisy, method=MethodSpec("richardson_lucy", psf=psf, iterations=chosen),
                axes="ZYX", device="cpu")
    np.testing.assert_array_equal(out, rl)
    # a clean stack: the count asked for, said plainly
    clean = _blurred(sharp, psf, None)
    with pytest.warns(UserWarning, match=r"Richardson-Lucy in 3D \(12 iterations\)"):
        deblur(clean, method=MethodSpec("auto", psf=psf, iterations=12), axes="ZYX",
               device="cpu")


def test_central_volume_reads_the_centre_of_one_stack():
    image = np.arange(2 * 3 * 10 * 12, dtype=np.uint16).reshape(2, 3, 10, 12)  # C, Z, Y, X
    vol = central_volume(image, "CZYX", 4)
    np.testing.assert_array_equal(vol, image[0, :, 3:7, 4:8].astype(np.float32))
    assert vol.dtype == np.float32
    # Y, X before Z in the array: returned as (Z, Y, X)
    moved = np.moveaxis(image[1], 0, -1)  # Y, X, Z
    np.testing.assert_array_equal(central_volume(moved, "YXZ", 100), image[1].astype(np.float32))


def test_richardson_lucy_with_iterations_auto_on_an_image_and_a_stack():
    """By name, iterations='auto' runs the held-out count (at most 100), on a 2D image and on
    every plane of a stack with a 2D PSF; without an image it cannot be decided."""
    from napari_microdeblur.core.image_settings import held_out_count

    psf2 = gaussian_psf(2.0, size=15)
    sharp = _textured_stack((2, 160, 160), seed=4)
    noisy = np.stack([_blurred(p, psf2, 30.0, seed=5 + i) for i, p in enumerate(sharp)])
    auto = MethodSpec("richardson_lucy", psf=psf2, iterations="auto")
    count = held_out_count(psf2, noisy[0], "YX", 100)
    assert 1 <= count < 30  # this noise stops it early
    with pytest.warns(UserWarning, match=f"richardson_lucy: {count} iterations"):
        out = deblur(noisy[0], method=auto, device="cpu")
    np.testing.assert_array_equal(out, deblur(noisy[0], method=auto.replace(iterations=count),
                                              device="cpu"))
    stack_count = held_out_count(psf2, noisy, "ZYX", 100)
    with pytest.warns(UserWarning, match=f"richardson_lucy: {stack_count} iterations"):
        out = deblur(noisy, method=auto, axes="ZYX", device="cpu")
    np.testing.assert_array_equal(out, deblur(noisy, method=auto.replace(iterations=stack_count),
                                              axes="ZYX", device="cpu"))
    clean = _blurred(sharp[0], psf2, None)
    assert held_out_count(psf2, clean, "YX", 100) > 3 * count  # less noise, more iterations
    with pytest.raises(TypeError, match="decided per image"):
        auto.check().resolve()
    with pytest.raises(TypeError, match="or 'auto'"):
        MethodSpec("richardson_lucy", psf=psf2, iterations="fast").check()
    with pytest.raises(ValueError, match="is 3D .*has no Z axis"):
        deblur(noisy[0], method=auto.replace(psf=_cone()), device="cpu")


def test_gcv_balance_grows_with_the_noise_and_wiener_auto_uses_it():
    from napari_microdeblur.core.psf_estimate import gcv_balance

    psf2 = gaussian_psf(1.6, size=11)
    sharp = _textured_stack((1, 192, 192), seed=6)[0]
    clean = _blurred(sharp, psf2, None)
    rng = np.random.default_rng(7)
    balances = [gcv_balance(clean + rng.normal(0, s, clean.shape), psf2)
                for s in (0.002, 0.02, 0.2)]
    assert balances[0] < balances[1] < balances[2]
    noisy = (clean + rng.normal(0, 0.02, clean.shape)).astype(np.float32)
    chosen = gcv_balance(noisy, psf2)
    auto = MethodSpec("wiener", psf=psf2, balance="auto")
    with pytest.warns(UserWarning, match=f"wiener: balance {chosen:.3g} \\(balance 'auto'"):
        out = deblur(noisy, method=auto, device="cpu")
    np.testing.assert_array_equal(out, deblur(noisy, method=auto.replace(balance=chosen),
                                              device="cpu"))
    # it scores near the best balance of a grid against the sharp image
    from napari_microdeblur.core.metrics import psnr

    grid = {b: psnr(deblur(noisy, method=auto.replace(balance=b), device="cpu"), sharp,
                    data_range=1.0) for b in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)}
    assert psnr(out, sharp, data_range=1.0) > max(grid.values()) - 0.3
    with pytest.raises(TypeError, match="decided per image"):
        auto.check().resolve()
    for bad in ("fast", 0, -1.0, True, float("nan")):
        with pytest.raises(ValueError, match="or 'auto'"):
            auto.replace(balance=bad).check()
    with pytest.raises(ValueError, match="needs a 2D PSF"):
        gcv_balance(noisy, _cone())


def test_a_psf_as_large_as_the_image_is_cut_for_both_checks():
    """A PSF file as large as the image (a whole bead image) is cut to its support before the
    per-image checks, as before the deblur; a PSF wider than 128 px gets a wider crop."""
    from napari_microdeblur.core.image_settings import balance_for, iterations_for
    from napari_microdeblur.core.psf import fit_psf_to_image
    from napari_microdeblur.core.psf_estimate import gcv_balance

    sharp = _textured_stack((1, 160, 160), seed=8)[0]
    psf2 = gaussian_psf(1.6, size=11)
    noisy = _blurred(sharp, psf2, 30.0)
    bead_image = np.zeros((160, 160), np.float32)
    bead_image[75:86, 75:86] = psf2
    fitted, _ = fit_psf_to_image(bead_image, (160, 160))
    with pytest.warns(UserWarning, match="wiener: balance"):
        spec = balance_for(MethodSpec("wiener", psf=bead_image, balance="auto"), noisy, "YX")
    assert spec.balance == gcv_balance(noisy, fitted)
    with pytest.warns(UserWarning, match="richardson_lucy: "):
        rl = iterations_for(MethodSpec("richardson_lucy", psf=bead_image, iterations="auto"),
                            noisy, "YX")
    assert 1 <= rl.iterations <= 100
    wide = gaussian_psf(20.0, size=161)
    big = np.random.default_rng(0).random((400, 400))
    assert gcv_balance(big, wide) > 0  # judged on a 322 px crop
    with pytest.raises(ValueError, match="larger than the 160 px"):
        gcv_balance(noisy, gaussian_psf(30.0, size=201))


def test_auto_is_the_default_and_a_3d_psf_caps_or_fixes_it():
    """Without iterations or balance, RL and Wiener settle theirs per image (the defaults);
    with a 3D PSF, RL's check stops at 30 (it overshoots on smooth samples) and Wiener, whose
    GCV judges a 2D PSF, runs the fixed 0.01 and says so. A Method built without an image
    needs numbers, and has them by default."""
    from napari_microdeblur.core.image_settings import AUTO_ITERATIONS_MAX_3D, held_out_count
    from napari_microdeblur.core.method import resolve_method
    from napari_microdeblur.core.options import FIXED_BALANCE, FIXED_ITERATIONS

    psf2 = gaussian_psf(2.0, size=15)
    sharp = _textured_stack((1, 160, 160), seed=9)[0]
    clean = _blurred(sharp, psf2, None)
    count = held_out_count(psf2, clean, "YX", 100)
    assert count > AUTO_ITERATIONS_MAX_3D  # the 2D cap is not the 3D one on this image
    with pytest.warns(UserWarning, match=f"richardson_lucy: {count} iterations"):
        out = deblur(clean, method="richardson_lucy", psf=psf2, device="cpu")
    np.testing.assert_array_equal(out, deblur(clean, method="richardson_lucy", psf=psf2,
                                              iterations=count, device="cpu"))
    # balance 'auto' is the default (on this noise-free image GCV's minimum is its floor)
    with pytest.warns(UserWarning, match="wiener: balance .*balance 'auto': GCV found no noise"):
        deblur(clean, method=MethodSpec("wiener", psf=psf2), device="cpu")

    cone = _cone()
    stack = _blurred(_textured_stack((16, 96, 96), seed=10), cone, None)
    # this noise-free stack still improves at the 3D cap: the note says the cap stopped it
    with pytest.warns(UserWarning, match=f"at most {AUTO_ITERATIONS_MAX_3D}; stopped at the cap"):
        deblur(stack, method="richardson_lucy", psf=cone, axes="ZYX", device="cpu")
    with pytest.warns(UserWarning, match=f"wiener: balance {FIXED_BALANCE} .*the fixed value"):
        out = deblur(stack, method="wiener", psf=cone, axes="ZYX", device="cpu")
    np.testing.assert_array_equal(out, deblur(stack, method="wiener", psf=cone,
                                              balance=FIXED_BALANCE, axes="ZYX", device="cpu"))
    assert resolve_method("richardson_lucy", psf=psf2).parameters["iterations"] == FIXED_ITERATIONS
    assert resolve_method("wiener", psf=psf2).parameters["balance"] == FIXED_BALANCE
