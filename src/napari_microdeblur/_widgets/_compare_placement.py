"""Whether two layers' pixels lie on the same places of the sample in Y-X, and the words that
say how each is placed where they do not: Compare & QC scores layers, and Fine-tune pairs
them, pixel for pixel.

The whole data-to-world transform counts in Y-X: scale, translate, rotate, shear and
``layer.affine`` (what napari's transform mode sets when a layer is dragged). Scale and
translate alone were compared: a blurry layer lined up on the truth by an affine shift of
(9, 6) was scored pixel for pixel (19.09 dB; 35.00 dB on the overlap as shown) while the same
shift given as translate was refused."""

from __future__ import annotations

import math

import numpy as np

#: the parts of a layer's placement, in the order messages name them
PARTS = ("scale", "translate", "rotate", "shear", "affine")


def yx_rows(matrix, ndim: int, lead: int) -> np.ndarray:
    """The Y-X rows of a layer's ``ndim``-D linear (ndim x ndim) or homogeneous
    ((ndim + 1) x (ndim + 1)) ``matrix``: its leading columns right-aligned to ``lead``
    leading axes (missing ones zero), then Y, X, and the translation where there is one."""
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix[ndim - 2:ndim]
    pad = np.zeros((2, max(0, lead - (ndim - 2))))
    return np.hstack([pad, rows[:, :ndim], rows[:, ndim:]])


def world_rows(layer, lead: int) -> np.ndarray:
    """Where ``layer``'s pixels lie in world Y-X: the world Y-X step of one pixel along each
    axis (``yx_rows``' columns) and of pixel 0, composed once from the layer's own parts as
    napari composes them: affine * (rotate * shear * scale + translate). Not through
    ``data_to_world``: before napari 0.7 it added the grid cell's offset, so with the grid on
    (Side by side turns it on) identical layers were refused; and each point cost 30-190 us."""
    n = layer.ndim
    world = (np.asarray(layer.affine.affine_matrix, dtype=float)
             @ data_to_physical(layer))
    return yx_rows(world, n, lead)


def data_to_physical(layer) -> np.ndarray:
    """``layer``'s rotate * shear * scale + translate, (ndim + 1)-square: napari's own
    composite of them where it has one (reading ``layer.shear`` back costs ~0.17 ms)."""
    try:
        return np.asarray(layer._transforms["data2physical"].affine_matrix, dtype=float)
    except (AttributeError, KeyError, TypeError):
        n = layer.ndim
        placed = np.eye(n + 1)
        placed[:n, :n] = (np.asarray(layer.rotate, dtype=float) @ shear_matrix(layer)
                          @ np.diag(np.asarray(layer.scale, dtype=float)))
        placed[:n, n] = np.asarray(layer.translate, dtype=float)
        return placed


def lead_of(*layers) -> int:
    return max(layer.ndim for layer in layers) - 2


def same_yx_placement(a, b) -> bool:
    """Whether ``a`` and ``b`` map their Y-X pixels onto the same world places (scale,
    translate, rotate, shear and affine together): their pixels cover the same places of the
    sample (Z may differ: planes are matched by world position)."""
    lead = lead_of(a, b)
    return bool(np.allclose(world_rows(a, lead), world_rows(b, lead)))


def shear_matrix(layer) -> np.ndarray:
    from napari.utils.transforms.transform_utils import shear_to_matrix

    shear = np.asarray(layer.shear, dtype=float)
    return shear if shear.ndim == 2 else shear_to_matrix(shear, ndim=layer.ndim)


def parts(layer, lead: int) -> dict:
    """{part: its Y-X values} of ``layer``'s placement (``PARTS``), to tell which differ."""
    n = layer.ndim
    return {"scale": np.asarray(layer.scale, dtype=float)[-2:],
            "translate": np.asarray(layer.translate, dtype=float)[-2:],
            "rotate": yx_rows(layer.rotate, n, lead),
            "shear": yx_rows(shear_matrix(layer), n, lead),
            "affine": yx_rows(layer.affine.affine_matrix, n, lead)}


def differing_parts(a, b) -> list[str]:
    """The parts of the Y-X placement (``PARTS``) in which ``a`` and ``b`` differ."""
    lead = lead_of(a, b)
    pa, pb = parts(a, lead), parts(b, lead)
    return [name for name in PARTS if not np.allclose(pa[name], pb[name])]


def numbers(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def yx_place(layer) -> str:
    """A layer's Y-X placement as messages say it: 'Y-X scale (0.1, 0.1), translate (0, 0)',
    then the rotate, shear and affine where they move the Y-X pixels ('affine translate
    (9, 6)': a drag in napari's transform mode)."""
    n, lead = layer.ndim, layer.ndim - 2
    found = parts(layer, lead)
    words = [f"Y-X scale ({numbers(found['scale'])}), translate "
             f"({numbers(found['translate'])})"]
    eye = yx_rows(np.eye(n), n, lead)
    rotate = found["rotate"]
    if not np.allclose(rotate, eye):
        block = rotate[:, -2:]
        turned = np.allclose(block @ block.T, np.eye(2)) and np.allclose(rotate[:, :-2], 0)
        words.append(f"rotate {math.degrees(math.atan2(block[1, 0], block[0, 0])):g} degrees"
                     if turned else f"rotate ({numbers(rotate.ravel())})")
    shear = found["shear"]
    if not np.allclose(shear, eye):
        only_yx = eye.copy()
        only_yx[0, -1] = shear[0, -1]  # the Y row's X column: a Y-X shear alone
        words.append(f"shear {shear[0, -1]:g}" if np.allclose(shear, only_yx)
                     else f"shear ({numbers(shear.ravel())})")
    affine = found["affine"]
    linear, shift = affine[:, :-1], affine[:, -1]
    if not np.allclose(linear, eye):
        words.append(f"affine matrix ({numbers(linear.ravel())}) shifting by ({numbers(shift)})")
    elif not np.allclose(shift, 0):
        words.append(f"affine translate ({numbers(shift)})")
    return ", ".join(words)


def placement_fix(differ: list[str]) -> str:
    """What to make equal: 'give the layers the same Y-X scale and translate'; an affine is
    named with where it comes from (napari's transform mode sets it when a layer is dragged)."""
    names = differ or ["scale", "translate"]
    said = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    where = (" (napari's transform mode sets the affine when a layer is dragged)"
             if "affine" in names else "")
    return f"give the layers the same Y-X {said}{where}"


def yx_placement_line(layer, role: str, truth) -> str:
    """Why ``layer`` is not scored against ``truth`` placed elsewhere in Y-X: the metrics go
    pixel for pixel, and resampling one onto the other's pixels would change the scores."""
    fix = placement_fix(differing_parts(layer, truth))
    return (f"{role} layer {layer.name!r} is placed at {yx_place(layer)} but ground truth "
            f"{truth.name!r} at {yx_place(truth)}: PSNR and SSIM compare pixel for pixel, so "
            f"they would compare different places; {fix}, or resample one onto the other's "
            "pixels")
