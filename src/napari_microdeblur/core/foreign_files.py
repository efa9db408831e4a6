"""Other tools' files given where microdeblur wants its own, said as what they are and how to
use them here: CSBDeep/CARE training data (an ``.npz`` of X and Y), a CSBDeep/CARE or n2v
model folder (config.json, Keras weights_best.h5), and weights files without an ending
microdeblur knows (Cellpose saves its models without one). Each had been refused as an
unreadable image ('install the bioio plugin for .npz', 'convert weights_best.h5 to TIFF') or
'unknown weights format '''. Without torch, but for a PyTorch file's tensor names
(``torch_file_refusal``)."""

from __future__ import annotations

import json
import shlex
import zipfile
from pathlib import Path

import numpy as np

from .shown import shown_path

#: the line for Keras weights, as ``checkpoint.load_model`` refuses a ``.h5``/``.keras`` file
KERAS_WEIGHTS = ("Keras weights, as CSBDeep/CARE and n2v write, are not a napari-microdeblur "
                 "network and cannot be read; run them in their own tool, or give .safetensors "
                 "weights (microdeblur methods lists the bundled ones)")
#: attribute names Keras writes on an HDF5 file's root (as ``cli_info_weights`` looks for)
KERAS_MARKERS = (b"keras_version", b"layer_names", b"model_weights")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: the .h5 files of a folder whose first MiB is looked at for Keras' names
HDF5_SNIFFED = 4
#: keys of a CSBDeep/CARE or n2v config.json (csbdeep.models.Config), none of ours
CARE_CONFIG_KEYS = ("unet_n_depth", "n_channel_in", "n_dim", "train_loss", "n2v_perc_pix")
#: weights endings ``checkpoint.load_model`` reads or refuses by name
KNOWN_WEIGHTS = (".safetensors", ".zip", ".pt", ".pth", ".ckpt", ".bin", ".h5", ".hdf5",
                 ".keras")


def _head(path: Path, size: int = 1 << 20) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


#: the number a legacy (pickle) torch.save file pickles first (after a protocol 4-5 frame):
#: any pickle, or a raw image starting 0x80 0x02-0x05, had been called a PyTorch file
_LEGACY_TORCH_MAGIC = b"\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def sniff(path: str | Path) -> str | None:
    """What a file holds by its bytes, whatever its name: 'safetensors', 'torch' (torch.save,
    zip or legacy pickle), 'keras' (HDF5 naming Keras, or a Keras 3 zip), 'hdf5', 'zoo' (a
    BioImage Model Zoo zip), 'npz', 'zip'; None for anything else."""
    path = Path(path)
    head = _head(path, 16)
    if head.startswith(HDF5_MAGIC):
        return "keras" if any(m in _head(path) for m in KERAS_MARKERS) else "hdf5"
    if head.startswith(b"\x80") and _LEGACY_TORCH_MAGIC in _head(path, 32):
        return "torch"  # torch.save before its zip format: a pickle of its magic number
    if head.startswith(b"PK"):
        names = _zip_names(path) or []
        base = {n.rsplit("/", 1)[-1] for n in names}
        if "data.pkl" in base:
            return "torch"
        if "model.weights.h5" in base and "metadata.json" in base:
            return "keras"
        if "rdf.yaml" in base or any(n.endswith(".rdf.yaml") for n in base):
            return "zoo"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        return "zip"
    return "safetensors" if _safetensors_header(path) else None


#: safetensors' own limit on the JSON header
MAX_SAFETENSORS_HEADER = 100_000_000


def safetensors_header(f) -> tuple[dict, int] | None:
    """The JSON header of an open safetensors file and where its data start; None if the
    bytes are not a safetensors header (u64 little-endian size, then a JSON object). Here,
    torch-free, for ``sniff``; ``state_dict_files`` reads weights with it too."""
    size = int.from_bytes(f.read(8), "little")
    if not 2 <= size <= MAX_SAFETENSORS_HEADER:
        return None
    text = f.read(size)
    if len(text) < size or not text.startswith(b"{"):
        return None
    try:
        header = json.loads(text)
    except ValueError:
        return None
    return (header, 8 + size) if isinstance(header, dict) else None


def _safetensors_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return safetensors_header(f) is not None
    except OSError:
        return False


def keras_folder(folder: str | Path) -> list[str]:
    """The names in ``folder`` that make it a CSBDeep/CARE or n2v model (Keras weights, a
    ``.keras`` file, a config.json of CSBDeep's keys); [] for another folder."""
    folder, names = Path(folder), []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    hdf5 = [p for p in entries if p.suffix.lower() in (".h5", ".hdf5")]
    sniffed = set(hdf5[:HDF5_SNIFFED])  # a MiB each: a folder of HDF5 images is not read
    for p in entries:
        if p.suffix.lower() == ".keras" or (p in sniffed and sniff(p) == "keras"):
            names.append(p.name)
        elif p.name == "config.json" and _care_config(p):
            names.insert(0, p.name)
    return names


def _care_config(path: Path) -> bool:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(config, dict) and any(key in config for key in CARE_CONFIG_KEYS)


def folder_not_weights(folder: str | Path) -> str:
    """Why the folder ``folder``, given as weights, is refused (after its name): a Keras model
    folder with ``KERAS_WEIGHTS``, any other with the files it could mean."""
    names = keras_folder(folder)
    if names:
        return (f"is a CSBDeep/CARE or n2v model folder ({', '.join(names[:3])}), not a weights "
                f"file: {KERAS_WEIGHTS}")
    return "is a folder, not a weights file; give the .safetensors, .pt/.pth or .zip file inside it"


# ----------------------------------------------------------------------------- weights files


def unknown_weights_said(path: str | Path) -> str | None:
    """Why a weights file without an ending microdeblur knows (Cellpose's 'cyto3', 'x.7765')
    is refused, by what its bytes hold, naming the ending that reads it; None where it is read
    as it is (.safetensors bytes) or holds nothing known (``load_model`` says its ending).
    A PyTorch file is ``torch_file_refusal``'s: it needs its tensor names."""
    path = Path(path)
    kind = sniff(path)
    rename = f"rename it to {path.name}"  # 'cellpose_1704.77' keeps its digits
    if kind == "keras":
        return f"{path}: holds Keras weights: {KERAS_WEIGHTS}"
    if kind == "zoo":
        return (f"{path}: a BioImage Model Zoo package without its .zip ending: {rename}.zip "
                "(read as one of napari-microdeblur's packages)")
    if kind in ("hdf5", "npz", "zip"):
        what = {"hdf5": "an HDF5 file", "npz": "a NumPy .npz archive", "zip": "a zip archive"}
        return (f"{path}: {what[kind]}, not weights microdeblur reads; accepted: .safetensors, "
                ".pt/.pth/.ckpt/.bin (state dicts of its networks, with the architecture as "
                "the method), .zip (BioImage Model Zoo)")
    if kind is None and not path.suffix:
        return (f"{path}: no file ending, and its bytes are not weights microdeblur reads "
                "(.safetensors, a PyTorch state dict, a BioImage Model Zoo zip)")
    return None


def torch_file_refusal(path: Path) -> ValueError:
    """The refusal of a PyTorch file without a ``.pt`` ending: tensors named as in none of
    microdeblur's networks get the state-dict refusal (``ArchitectureUnknownError``, as a
    ``.pt`` of them); a file of its networks is to be renamed ``.pt``."""
    from .checkpoint import ArchitectureUnknownError  # torch; checkpoint imports run_paths
    from .state_dict_files import named_as

    keys = _tensor_names(path)
    if not named_as(keys):
        error = ArchitectureUnknownError(str(path), "", keys)
        # its own words where it is said as is (train's early check): no 'pass arch='
        error.args = (f"{path}: a PyTorch file without a .pt ending (Cellpose saves its models "
                      f"so), not a napari-microdeblur network: it holds {error.holds}; "
                      "accepted: .safetensors weights written by microdeblur train or "
                      "finetune, a BioImage Model Zoo .zip it exported, or a .pt state dict "
                      "of one of its networks",)
        return error
    return ValueError(f"{path}: a PyTorch state dict without its ending: rename it to "
                      f"{path.name}.pt (read as a state dict, with its architecture as the "
                      "method)")


def _tensor_names(path: Path) -> list[str]:
    """The tensor names of a PyTorch file, memory-mapped where it is a zip (a 300 MB file was
    read whole, 1 s and 560 MB, only to be refused; mapped: 1 ms)."""
    import torch

    from .state_dict_files import extract_state_dict, read_state_dict_file

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a legacy pickle cannot be mapped: read as before
        return list(read_state_dict_file(path, str(path)))
    return list(extract_state_dict(obj, str(path)))


def not_image_said(path: str | Path) -> str | None:
    """Why a file of no known image ending is not an image, where its bytes are weights
    (microdeblur info and --weights read them by their ending); None otherwise."""
    path = Path(path)
    kind = sniff(path)
    if kind == "keras":
        return f"it holds Keras weights, not an image: {KERAS_WEIGHTS}"
    ending = {"torch": ".pt", "safetensors": ".safetensors", "zoo": ".zip"}.get(kind or "")
    if ending is None:
        return None
    what = {"torch": "a PyTorch file (torch.save; Cellpose saves its models without an "
                     "ending)", "safetensors": ".safetensors weights",
            "zoo": "a BioImage Model Zoo package"}[kind]
    return (f"it is {what}, not an image: rename it to {path.name}{ending}, then microdeblur info "
            "says what it holds and --weights reads it if it is a napari-microdeblur network")


# ----------------------------------------------------------------------------- training data


def _npy_shape(zf: zipfile.ZipFile, name: str) -> tuple[int, ...] | None:
    """The shape in an .npz member's header, without reading its data."""
    try:
        with zf.open(name) as f:
            fmt = np.lib.format
            major, _ = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            return tuple(int(n) for n in read(f)[0])
    except Exception:  # a damaged member: the advice goes without its shape
        return None


def _npz_axes(zf: zipfile.ZipFile) -> str | None:
    try:
        with zf.open("axes.npy") as f:
            return str(np.lib.format.read_array(f, allow_pickle=False)).upper()
    except Exception:  # absent, or pickled (an object array)
        return None


def npz_said(path: str | Path) -> str | None:
    """What an ``.npz`` is and how to use it here: CARE training data (X, Y and axes, as
    csbdeep's ``save_training_data`` writes) as two TIFF stacks for --blurry/--sharp, another
    archive's arrays each saved as .npy; None where it is not a readable .npz."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            arrays = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
            if not {"X", "Y"} <= set(arrays):
                if not arrays:
                    return None
                first = arrays[0]
                return (f"a NumPy .npz archive of the arrays {', '.join(arrays[:5])}, not an "
                        f"image: save the image as .npy or TIFF, e.g. np.save('{first}.npy', "
                        f"np.load('{path.name}')['{first}'])")
            shape, axes = _npy_shape(zf, "X.npy"), _npz_axes(zf)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return care_npz_advice(path.name, shape, axes)


#: tifffile stores a stack of 3 or 4 planes as RGB(A) without it
GREY = "photometric='minisblack'"


def care_npz_advice(name: str, shape: tuple | None, axes: str | None) -> str:
    """The one line for CARE training data of X's ``shape`` and ``axes``: each sample a plane
    (or, of 3D patches, a time point) of a TIFF stack; a channel of one dropped."""
    stored = axes
    if axes is None or (shape is not None and len(axes) != len(shape)):
        axes = {3: "SYX", 4: "SCYX", 5: "SCZYX"}.get(len(shape) if shape else 4, "SCYX")
    index = ""
    if "C" in axes and (shape is None or len(shape) != len(axes) or shape[axes.index("C")] == 1):
        at = axes.index("C")
        index = "[..., 0]" if at == len(axes) - 1 else "[" + ", ".join([":"] * at + ["0"]) + "]"
        axes = axes.replace("C", "")
    stack = axes.replace("S", "T" if "Z" in axes else "Z")
    each = "a time point" if "Z" in axes else "a plane"
    sizes = f"X and Y of {' x '.join(map(str, shape))}, " if shape else "X and Y, "
    said = f"axes {stored}" if stored else f"axes not stored: taken as {axes}"
    load = f"d = np.load({name!r})"
    return (f"CARE training data ({sizes}{said}), not an image: save X and Y as TIFF stacks, "
            f"e.g. {load}; tifffile.imwrite('blurry.tif', d['X']{index}, {GREY}); "
            f"tifffile.imwrite('sharp.tif', d['Y']{index}, {GREY}), then give --blurry blurry.tif "
            f"--sharp sharp.tif --axes {stack} (each patch {each})")


# ----------------------------------------------------------------------------- folders

#: CSBDeep's RawData.from_folder names: target_dir and source_dirs, as its examples name them
TARGETS = ("gt", "high", "target", "sharp", "clean", "groundtruth", "ground_truth", "truth")
SOURCES = ("low", "noisy", "source", "blurry", "input", "raw")


def pair_folders(given: str, subfolders: list[str]) -> str:
    """CSBDeep's layout (base/low, base/GT) said as --blurry and --sharp; '' if not it."""
    targets = [s for s in subfolders if s.lower() in TARGETS]
    sources = [s for s in subfolders if s.lower().rstrip("0123456789_") in SOURCES]
    if len(targets) != 1 or not sources:
        return ""
    path = lambda name: shlex.quote(str(Path(given) / name))  # noqa: E731
    return (f"; CSBDeep's layout of training pairs: --blurry {path(sources[0])} --sharp "
            f"{path(targets[0])}")


def subfolders_said(given: str, counts: dict[str, int], more: int = 0) -> str:
    """'holds no image file itself, but its subfolders do: ...' of the image ``counts`` of its
    subfolders (by name, the first few), ``more`` others not named."""
    names = list(counts)
    files = lambda n: f"{n} image file{'s' * (n != 1)}"  # noqa: E731
    if len(names) == 1 and not more:
        said = (f"but its subfolder {shown_path(names[0])} does ({files(counts[names[0]])}): "
                "give that folder")
    else:
        listed = ", ".join(f"{shown_path(n)} ({files(c)})" for n, c in counts.items())
        said = (f"but its subfolders do: {listed}{f' and {more} more' if more else ''}: give "
                "one of them")
    return f"input directory {shown_path(given)} holds no image file itself, {said}" + \
        pair_folders(given, names)
