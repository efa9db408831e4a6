"""Arrays given to the Python functions besides deblur (focus scores, metrics, degrade): torch
tensors taken as deblur takes them, and a refused array named by its type's public path;
``not_an_array`` says how to get the array out of what holds one (a napari layer, an
AICSImage), for deblur too.

Torch-free at import (``degrade01`` is imported without torch): a tensor is recognised through
``sys.modules``, as no tensor exists before torch is imported.
"""

from __future__ import annotations

import sys

__all__ = ["host_image", "metric_tensor", "not_an_array", "not_numpy", "type_name"]


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def host_image(image):
    """``image`` as deblur takes it (``inference.image_array``): a CPU tensor as the numpy
    array sharing its memory, a tensor on another device or of a dtype numpy lacks refused in
    one line; anything else as it is. Focus scoring read a tensor's dtype as numpy's."""
    if not _is_tensor(image):
        return image
    from .inference import image_array  # a tensor only: inference takes 0.3 s to import

    return image_array(image)


def metric_tensor(a, name: str):
    """A tensor given to a metric (``metrics``, which compute on its device), or TypeError: a
    meta tensor holds no values (it failed in Tensor.item()); bfloat16 and float8 are widened
    to float32, exactly (``evaluate`` copies a tensor to numpy, which has no such dtype)."""
    import torch

    if a.is_complex() or a.dtype == torch.bool:
        raise TypeError(f"{name} has dtype {a.dtype}; accepted: real integer or float tensors")
    if a.device.type == "meta":
        raise TypeError(f"{name} is a torch tensor on the meta device, which holds no values; "
                        "pass one that holds the image (on the CPU or a GPU) or a numpy array")
    if a.is_floating_point() and a.dtype not in (torch.float16, torch.float32, torch.float64):
        return a.float()
    return a


def type_name(value) -> str:
    """The public dotted name of ``value``'s type: 'dask.array.Array' (not its defining module,
    dask.array.core), 'zarr.Array', 'torch.Tensor'; a builtin's bare name ('list')."""
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        package = ".".join(parts[:n])
        if getattr(sys.modules.get(package), cls.__name__, None) is cls:
            return f"{package}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def not_numpy(value, name: str) -> str:
    """The one-line refusal of ``value`` where only a numpy.ndarray is accepted: its type and
    how to convert it."""
    how = f"{name}.detach().cpu().numpy()" if _is_tensor(value) else f"np.asarray({name})"
    return f"{name} is a {type_name(value)}; accepted: a numpy.ndarray (convert it: {how})"


def not_an_array(value, name: str = "image") -> str:
    """The one-line refusal of ``value`` where an array is needed, with how to get the array
    out of what holds one: a napari layer's (or any holder's) array-like ``.data``, an
    AICSImage/BioImage's ``get_image_data``, a list or PIL image through ``np.asarray``."""
    said = f"{name} must be an array (numpy, memmap, dask, zarr), not {type_name(value)}"
    if callable(getattr(value, "get_image_data", None)):  # aicsimageio / bioio
        return (f"{said}; pass its pixels: {name}.get_image_data('ZYX', T=0, C=0) with "
                "axes='ZYX' (or the dimension order you need)")
    data = getattr(value, "data", None)
    if all(hasattr(data, a) for a in ("shape", "dtype")):
        level = "[0]" if getattr(value, "multiscale", False) is True else ""
        whole = " (its full-resolution level)" if level else ""
        return f"{said}; pass its array: {name}.data{level}{whole}"
    if isinstance(value, (list, tuple)) or hasattr(value, "__array_interface__") or hasattr(
            value, "__array__"):
        return f"{said}; convert it: np.asarray({name})"
    return said
