"""How a deblur is tiled and where it runs: ``TilingSpec`` (tile, overlap, window, batch size,
device, output dtype), frozen and JSON-serialisable like ``method.MethodSpec``, so the CLI, the
docks, the cluster path and batch files carry the same object."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

# torch-free: the CLI checks a TilingSpec before importing torch (1.6-2 s), so that a bad
# --tile or --device is said at once (``check(form_only=True)``)
OUTPUT_DTYPES = ("float32", "input")
#: the blend windows of overlapping tiles (``tiling.window_profile``)
WINDOWS = ("cosine", "gaussian", "constant")
#: the device names accepted, in words, and their form (as ``devices.resolve_device`` reads
#: them; whether the device is here is torch's to say)
DEVICE_FORMS = "'auto', 'cpu', 'cuda', 'cuda:N' (N from 0), 'mps'"
DEVICE_NAME = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


@dataclass(frozen=True)
class TilingSpec:
    """How a deblur is tiled and where it runs. ``tile``/``overlap`` None: the method's own."""

    tile: int | tuple[int, ...] | None = None
    overlap: int | tuple[int, ...] | None = None
    window: str = "cosine"
    batch_size: int = 1
    device: str = "auto"
    output_dtype: str = "float32"  # 'float32' keeps intensity units; 'input' casts back

    def __post_init__(self):
        for name in ("tile", "overlap"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        torch = sys.modules.get("torch")  # a torch.device exists only once torch is imported
        if torch is not None and isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))

    def _check_overlap_in_tile(self) -> None:
        error = _overlap_in_tile_error(self.tile, self.overlap)
        if error is not None:  # before torch: the CLI says it at once (cli_early)
            raise error

    def replace(self, **changes) -> TilingSpec:
        return replace(self, **changes)

    def check(self, *, on_workers: bool = False, form_only: bool = False) -> TilingSpec:
        """Validate every option without doing work; raises ValueError/TypeError naming it.
        ``on_workers``: the run is a cluster's, whose workers resolve the device (a GPU is
        theirs, not the submitting machine's): only the device name's form is checked here.
        ``form_only``: the device's form only, whatever the machine, and torch not imported."""
        for name, least in (("tile", 1), ("overlap", 0)):
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            if value is None:
                continue
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                    raise TypeError(f"{name}={value!r} must be an integer or a tuple of integers")
                if v < least:
                    raise ValueError(f"{name}={value!r} must be >= {least}")
        self._check_overlap_in_tile()
        if self.window not in WINDOWS:
            raise ValueError(f"window={self.window!r} is not one of {WINDOWS}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size,
                                                               (int, np.integer)):
            raise TypeError(f"batch_size={self.batch_size!r} must be an integer >= 1")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be >= 1")
        if self.output_dtype not in OUTPUT_DTYPES:
            raise ValueError(f"output_dtype={self.output_dtype!r} is not one of {OUTPUT_DTYPES}")
        form = device_form(self.device)
        if not (form_only or (on_workers and form is not None and form.group(1) != "cpu")):
            from .devices import resolve_device

            resolve_device(self.device)
        return self

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in ("tile", "overlap"):
            if isinstance(out[name], tuple):
                out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TilingSpec:
        return cls(**known_keys(cls, data, "tiling spec"))


def _overlap_in_tile_error(tile, overlap) -> ValueError | None:
    """The refusal of an ``overlap`` not smaller than a given ``tile`` (ints, or tuples of one
    length), as ``tile_options`` says it of the method's default tile; None otherwise."""
    tiles = tile if isinstance(tile, tuple) else None
    overlaps = overlap if isinstance(overlap, tuple) else None
    if tile is None or overlap is None or (tiles and overlaps and len(tiles) != len(overlaps)):
        return None  # a default tile, or lengths the layout settles: tile_options checks them
    n = len(tiles or overlaps or (0,))
    pairs = zip(tiles or (tile,) * n, overlaps or (overlap,) * n)
    if any(o >= t for t, o in pairs):
        return ValueError(f"overlap={overlap} must be smaller than tile={tile}")
    return None


def device_form(device) -> re.Match | None:
    """``device``'s name parsed (None for 'auto'); ValueError, in ``devices.resolve_device``'s
    words, for a name of no accepted form ('gpu')."""
    name = str(device).strip().lower()
    if name == "auto":
        return None
    form = DEVICE_NAME.fullmatch(name)
    if form is None:
        raise ValueError(f"device={device!r} is not one of {DEVICE_FORMS}")
    return form


def known_keys(cls, data: dict, what: str) -> dict:
    """A copy of ``data``, or ValueError naming keys that are not fields of ``cls``."""
    names = {f.name for f in fields(cls)}
    if unknown := set(data) - names:
        raise ValueError(f"{what} has unknown keys {sorted(unknown)}; accepted: {sorted(names)}")
    return dict(data)
