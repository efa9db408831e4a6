"""The axes model: what each dimension of an image is, and how to walk its planes.

An axes string names every dimension with one of ``T C Z Y X S``: T time, C channel, Z depth,
Y and X the plane, S the samples of an RGB(A) pixel. Every module that loops over planes or
channels does it through this one model: ``check_axes``/``guess_axes`` to know the axes,
``loop_axes``/``iter_planes``/``key`` to walk and index planes, ``to_order`` to move axes, and
``Layout`` for the tiler's split of an image into planes of (channels, *spatial) blocks.
``axes_of_dims`` reads the axes an xarray names in its dims (instead of a guess);
``guess_note``/``guessed_axes_note``/``z_guess_note`` say what a guess in doubt assumed,
``given_axes_notes`` what given axes that differ from a file's own do, ``narrow_plane_note``
when a guess makes planes of a few pixels; ``colour_part`` is the
colours (or the gray) of an image with alpha, RGBA or gray + alpha (its alpha is opacity,
passed through rather than deblurred).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

LETTERS = "TCZYXS"


def guess_axes(shape: tuple[int, ...]) -> str:
    """A guess for arrays given without axes; pass ``axes`` explicitly when it is wrong."""
    ndim = len(shape)
    if ndim == 2:
        return "YX"
    if ndim == 3:
        return "YXS" if shape[-1] in (3, 4) else "ZYX"
    if ndim == 4:
        if shape[-1] in (3, 4):
            return "ZYXS"
        return "CZYX" if shape[0] <= 4 else "TZYX"
    if ndim == 5:
        return "TCZYX"
    raise ValueError(f"image has {ndim} dimensions (shape {shape}); give axes explicitly")


#: the most samples a pixel has (RGBA); a longer axis is channels or planes, not S
MAX_SAMPLES = 4


def check_axes(axes: str | None, shape: tuple[int, ...]) -> str:
    """``axes`` upper-cased and checked against ``shape``; a guess when None (refused, saying
    how to give the axes, when it makes planes of a few pixels: see ``narrow_plane_note``)."""
    if axes is None:
        return _plausible_guess(guess_axes(shape), tuple(shape))
    if not isinstance(axes, str):
        raise TypeError(f"axes must be a string such as 'ZYX', not {type(axes).__name__}")
    axes = axes.upper()
    if not axes:  # a dock's empty Axes box: why none was filled in, in no one tool's words
        narrow = _guess_narrow_note(tuple(shape))
        raise ValueError(f"no axes given, and the guess {narrow}" if narrow else
                         f"no axes given for shape {tuple(shape)}; give one letter of T, C, Z, "
                         "Y, X, S per dimension")
    if len(axes) != len(shape):
        raise ValueError(
            f"axes={axes!r} has {len(axes)} letters but the image has {len(shape)} dimensions "
            f"(shape {tuple(shape)})"
        )
    if set(axes) - set(LETTERS) or len(set(axes)) != len(axes):
        raise ValueError(f"axes={axes!r}: use each of the letters T, C, Z, Y, X, S at most once")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes={axes!r} must contain Y and X")
    if "C" in axes and "S" in axes:
        from .sample_axis import both_c_and_s  # what S is here, and CARE's S

        raise ValueError(both_c_and_s(axes))
    if "S" in axes and shape[axes.index("S")] > MAX_SAMPLES:
        # read so, a stack's planes became colours of one wrong image, written without error
        raise ValueError(
            f"axes={axes!r} makes S (the colour samples of a pixel: 3 for RGB, 4 for RGBA) "
            f"{shape[axes.index('S')]} long in shape {tuple(shape)}; S is at most "
            f"{MAX_SAMPLES} long: use C for channels, Z or T for planes")
    return axes


def axes_of_dims(image, shape: tuple[int, ...]) -> tuple[str, str] | None:
    """The axes an array names in its ``dims`` (an xarray.DataArray's ('c', 'y', 'x')), each
    one letter of T C Z Y X S in either case and passing ``check_axes``, with the line saying
    they were used; None where it names none so (the guess then runs as before)."""
    dims = getattr(image, "dims", None)
    if not isinstance(dims, tuple) or len(dims) != len(shape) or not all(
            isinstance(d, str) and len(d) == 1 for d in dims):
        return None
    try:
        axes = check_axes("".join(dims), tuple(shape))
    except ValueError:  # 'x', 'x' or no Y: not axes this package names
        return None
    return axes, (f"axes {axes} read from the array's dims {dims}; give axes= to read it "
                  "otherwise")


def dims_axes(image, shape: tuple[int, ...]) -> str | None:
    """The axes ``axes_of_dims`` reads, said in one ``DeblurNote`` only where the guess
    would have read others (a plain 2D xarray had said 'YX' at every call); None where the
    array names none."""
    named = axes_of_dims(image, shape)
    if named is None:
        return None
    axes, note = named
    if axes != check_axes(None, shape):
        import warnings

        from .notes import DeblurNote

        warnings.warn(note, DeblurNote, stacklevel=3)
    return axes


#: How the narrow-plane line says to give axes: an example, and any axes where it has none
EXAMPLE_AXES = "give the axes, e.g. axes={0!r} (--axes {0} on the command line)"
ANY_AXES = "give the axes, one letter of T, C, Z, Y, X, S per dimension (axes=..., or --axes)"


def _plausible_guess(guess: str, shape: tuple[int, ...]) -> str:
    """``guess`` unless ``narrow_plane_note`` has a line on it: then refused with that line."""
    note = narrow_plane_note(shape, guess, gray_alpha=True)
    if note:
        raise ValueError(f"axes were not given and the guess {note}")
    return guess


def _guess_narrow_note(shape: tuple[int, ...]) -> str | None:
    """``narrow_plane_note`` of the guess for ``shape``; None where there is no guess."""
    try:
        return narrow_plane_note(shape, guess_axes(shape), "give the axes, e.g. {0}")
    except ValueError:  # more dimensions than a guess reaches
        return None


def narrow_plane_note(shape, axes: str, give: str = EXAMPLE_AXES,
                      give_any: str = ANY_AXES, *, gray_alpha: bool = False) -> str | None:
    """One line (to follow 'the guess ') where ``axes``, guessed or read from a file that does
    not name them (tifffile's unknown axis Q read as Z), make planes 4 px or narrower while a
    longer axis is looped over: the narrow axis is then most likely channels (guess_axes reads
    a first axis of up to 4 so), and the errors that would follow (a PSF larger than the image,
    say) would not say that the axes were only guessed; None where they do not. ``give``
    formats the axes to give instead (a dock: 'type {0} in Axes'), ``give_any`` where there
    is no example. ``gray_alpha`` (an array given without axes): a (Y, X, 2) one is given
    YXS, gray + alpha (a PNG in mode LA as imageio reads it), with YXC named for two channels;
    a file's unmarked second sample is a channel (YXC)."""
    shape = tuple(int(n) for n in shape)
    plane = [shape[axes.index(a)] for a in "YX"]
    others = [n for a, n in zip(axes, shape) if a not in "YX"]
    if "S" in axes or min(plane) > 4 or min(plane) >= max(others, default=0):
        return None
    try:  # the last axis as channels, the rest as guess_axes reads them
        hint = guess_axes(shape[:-1]) + "C" if shape[-1] <= MAX_SAMPLES else ""
    except ValueError:
        hint = ""
    fits = "S" not in hint and "C" not in hint[:-1] and len(hint) == len(shape)
    said = f"{axes!r} for shape {shape} makes each plane {plane[0]} x {plane[1]} px; "
    if gray_alpha and hint == "YXC" and shape[-1] == 2:  # YXC deblurred a PNG's alpha
        return (f"{said}{give.format('YXS')}: read as gray + alpha (the alpha passed through, "
                "not deblurred; YXC for two channels)")
    return said + (give.format(hint) if fits else give_any)


def axis_index(axis, ndim: int, name: str) -> int:
    """``axis`` (an integer, negative counting from the end) as an index in [0, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} is {axis!r}; accepted: an integer axis index")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name} is {axis} for an array with {ndim} dimensions; "
            f"accepted: an integer in [{-ndim}, {ndim - 1}]"
        )
    return int(axis) % ndim


def channel_letter(axes: str) -> str | None:
    """The channel axis of ``axes``: S (RGB samples) or C; None when there is none."""
    return next((a for a in axes if a in "CS"), None)


def channel_index(axes: str) -> int | None:
    """Position of the channel axis (S or C) in ``axes``, or None."""
    letter = channel_letter(axes)
    return axes.index(letter) if letter else None


def is_rgb(axes: str, shape) -> bool:
    """An RGB image: an S axis of 3 samples."""
    return "S" in axes and int(shape[axes.index("S")]) == 3


def is_rgba(axes: str, shape) -> bool:
    """An RGBA image: an S axis of 4 samples, the 4th alpha (opacity, not intensity)."""
    return "S" in axes and int(shape[axes.index("S")]) == 4


def is_gray_alpha(axes: str, shape) -> bool:
    """A grayscale + alpha image (a PNG in mode 'LA'): an S axis of 2 samples, the 2nd alpha.
    Channels that are not a pixel's samples take a C axis."""
    return "S" in axes and int(shape[axes.index("S")]) == 2


def has_alpha(axes: str, shape) -> bool:
    """RGBA or gray + alpha: the last S sample is alpha."""
    return is_rgba(axes, shape) or is_gray_alpha(axes, shape)


def colour_part(image, axes: str):
    """The samples before the alpha (RGB, or gray as an S axis of 1) of an image with alpha
    (``has_alpha``), as a lazy view (``FirstSamples``); any other image as it is."""
    if not has_alpha(axes, image.shape):
        return image
    s = axes.index("S")
    return FirstSamples(image, s, int(image.shape[s]) - 1)


class AxisView(abc.ABC):
    """A part of an array along axis ``axis``, indexed and assigned like an array of
    ``shape``: reads or writes only the region asked for, so it works on what has no views
    (``io.TiffArray``, a TIFF output) and a lazy array stays lazy. Subclasses map an index of
    the view to one of the array (``_at_axis``)."""

    def __init__(self, array, axis: int, shape: tuple[int, ...]):
        self.array, self.axis = array, int(axis)
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(array.dtype)

    @property
    def cheap_regions(self) -> bool:
        """As the array's (``tiling.holds_plane``: an uncompressed TIFF is read tile by tile)."""
        return bool(getattr(self.array, "cheap_regions", False))

    def __array__(self, dtype=None, copy=None):
        data = np.asarray(self[(slice(None),) * self.ndim])
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, where):
        return self.array[self._inner(where)]

    def __setitem__(self, where, value) -> None:
        self.array[self._inner(where)] = value

    def _inner(self, where) -> tuple:
        where = where if isinstance(where, tuple) else (where,)
        if any(w is Ellipsis for w in where):
            i = where.index(Ellipsis)
            where = where[:i] + (slice(None),) * (self.ndim - len(where) + 1) + where[i + 1:]
        return self._at_axis(where + (slice(None),) * (self.ndim - len(where)))

    @abc.abstractmethod
    def _at_axis(self, where: tuple) -> tuple:
        """``where`` (a full index of the view) as an index of the array."""


class FirstSamples(AxisView):
    """The first ``count`` samples along axis ``axis`` of an array (``AxisView``)."""

    def __init__(self, array, axis: int, count: int):
        shape = [int(n) for n in array.shape]
        shape[int(axis)] = self.count = int(count)
        super().__init__(array, axis, tuple(shape))

    def _at_axis(self, where: tuple) -> tuple:
        part = range(self.count)[where[self.axis]]  # IndexError past the count, like numpy
        if isinstance(part, range):
            stop = part.stop if part.stop >= 0 else None  # a reversed range runs down to 0
            part = slice(part.start, stop, part.step)
        return where[:self.axis] + (part,) + where[self.axis + 1:]


def copy_sample(source, target, axes: str, sample: int, dtype) -> None:
    """``target``'s S sample ``sample`` set to ``source``'s, cast to ``dtype``, plane by plane
    (a lazy source is read one plane at a time)."""
    loop = loop_axes(axes)
    for index in plane_indices(axes, source.shape):
        where = key(axes, {**dict(zip(loop, index)), "S": sample})
        target[where] = np.asarray(source[where]).astype(dtype, copy=False)


#: A guessed first axis of 2 to 4 that could as well be something else: what the guess read
#: it as, and what else it may hold with the axes that say so (each reading named: the
#: planar-RGB guess of a z-stack or serial sections suggested only CYX, not the ZYX they take)
_OTHER_READING = {
    "ZYX": ("Z planes", (("channels", "CYX"),)),
    "CZYX": ("channels", (("time points", "TZYX"),)),
    "SYX": ("RGB(A) samples", (("Z planes (a z-stack or serial sections)", "ZYX"),
                               ("channels", "CYX"))),  # planar colour, by the TIFF's tag
}
#: How the note says to give other axes: the Python keyword and the command-line option
GIVE_AXES = "give axes={0!r} (--axes {0} on the command line)"
#: 3 or 4 planes guessed Z may be a colour image's samples saved planar with a gray tag (an
#: H&E image in a minisblack TIFF ran gray, as fluorescence, with no hint of --axes SYX);
#: said by ``guess_note`` only, the likelier readings staying ``other_readings``'
_COLOUR_PLANES = {3: "the R, G, B of a colour image", 4: "the R, G, B, A of a colour image"}


def other_readings(shape, axes: str) -> tuple[str, ...]:
    """The axes that ``shape``, guessed as ``axes``, may as well have (the readings
    :func:`guess_note` names, in its order, but for its colour one: ``_COLOUR_PLANES``); ()
    where the guess is not in doubt."""
    other = _OTHER_READING.get(axes)
    first = int(shape[0]) if len(shape) else 0
    if other is None or not 2 <= first <= 4:
        return ()
    return tuple(letters for _, letters in other[1])


def guess_note(shape, axes: str, give: str = GIVE_AXES, dtype=None) -> str | None:
    """One line stating what ``axes``, guessed for ``shape`` (none given, none in the file),
    assumed where its first axis, of 2 to 4, may as well hold something else (channels or Z
    planes, channels or time points); None where the guess is not in doubt. ``give`` formats
    the other readings' axes (``GIVE_AXES``; a dock: 'type {0} in Axes'). ``dtype``: the
    image's, where known: planar RGB(A) read from a float image's tag (``_sample_reading``)."""
    if not other_readings(shape, axes):
        return None
    first = int(shape[0])
    read, others = _OTHER_READING[axes]
    if axes == "SYX":
        read = _sample_reading(first, dtype)
    if axes == "ZYX" and first in _COLOUR_PLANES:
        others = (*others, (_COLOUR_PLANES[first], "SYX"))
    instead = "; ".join(f"if it holds {what}, {give.format(letters)}" for what, letters in others)
    return (f"axes {axes} assumed for shape {tuple(int(n) for n in shape)}: its first axis "
            f"({first}) is read as {read}; {instead}")


def _sample_reading(samples: int, dtype) -> str:
    """What a planar SYX guess read its first axis as: RGB(A) by the TIFF's colour tag, the
    4th sample alpha (copied, not deblurred). For a float image, that the tag is weak:
    tifffile.imwrite tags any 3 or 4 float planes RGB (its DeprecationWarning says it will
    stop), and float colour is rare, so a stack of sections read so is likely."""
    read = "RGB(A) samples by the file's colour tag"
    if samples == 4:
        read += " (the 4th as alpha, which deblur passes through unchanged)"
    if dtype is not None and np.dtype(dtype).kind == "f":
        read += (f"; {np.dtype(dtype).name} colour is rare, and tifffile.imwrite tags any "
                 "3 or 4 planes RGB, so it is most likely not colour")
    return read


def z_guess_note(shape, axes: str, give: str = GIVE_AXES, *, run: str = "") -> str | None:
    """One line stating that a guessed ZYX read a first axis longer than 4 (where
    ``guess_note`` says nothing) as Z: a time series has the same shape, and a 3D PSF or a
    Z step would then treat its time points as planes; None for any other guess. The docks
    say it (their Axes box is there to retype); the CLI and the writer, which keep a stack
    guessed so, do not. ``run``: the method that works along that Z (``z_run_note``)."""
    first = int(shape[0]) if len(shape) else 0
    if axes != "ZYX" or len(shape) != 3 or first <= 4:
        return None
    across = f", which {run} deblurs in 3D, across those planes" if run else ""
    return (f"first axis read as Z ({first} planes) for shape {tuple(int(n) for n in shape)}"
            f"{across}; if it holds time points, {give.format('TYX')}")


def z_run_note(shape, layout, method: str, give: str = GIVE_AXES) -> str | None:
    """``z_guess_note`` for a run whose ``layout`` (``Layout``) works along that guessed Z, a
    3D PSF or method (``method``, its name) mixing the time points a time series has there;
    None where it runs plane by plane (the guess then changes nothing) or Z was not guessed
    from a first axis longer than 4."""
    if "Z" not in layout.spatial_axes:
        return None
    return z_guess_note(shape, layout.axes, give, run=method)


#: A guess of several axes before Y, X whose order the file does not give, and an order
#: such a file often has instead (Fiji's hyperstacks are TZCYX)
_OTHER_ORDER = {"TCZYX": "TZCYX", "TZYX": "ZCYX"}


def guessed_axes_note(shape, axes: str, give: str = GIVE_AXES) -> str | None:
    """``guess_note``, or for a guess of several axes before Y, X (``_OTHER_ORDER``) one line
    saying that their order was assumed; None where the guess is not in doubt."""
    note = guess_note(shape, axes, give)
    if note or axes not in _OTHER_ORDER:
        return note
    return (f"axes {axes} assumed for shape {tuple(int(n) for n in shape)}: the file does not "
            f"say which axis is which; if they are in another order, "
            f"{give.format(_OTHER_ORDER[axes])}")


#: What one index along each axis is, for a line saying how axes were read
_ITEMS = {"T": "time points", "C": "channels", "Z": "Z planes", "Y": "rows", "X": "columns",
          "S": "samples"}


def given_axes_notes(given: str, found: str, stated: bool, shape) -> list[str]:
    """Lines on ``given`` axes (checked) for an image of ``shape`` read with axes ``found`` (''
    where none; ``stated``: named by the file itself), none where they agree: that they differ
    from the file's, and that Y, X are not last (a slow read). Given axes win: a file's stated
    axes can be wrong (Z and C swapped by the software that saved it), and the user who types
    them is the one who knows; the line says what they change, as a typo is likelier."""
    notes = []
    if given == found:
        return notes
    if stated and found:
        read = " and ".join(f"its {int(shape[i])} {_ITEMS[f]} as {_ITEMS[g]}"
                            for i, (f, g) in enumerate(zip(found, given)) if f != g)
        # only the command line gives axes to a file read here: said in its words
        if sorted(given) == sorted(found):
            notes.append(f"--axes {given} puts the file's own axes {found} in another "
                         f"order, which reads {read}; using it as given (right only where the "
                         "file's axes are wrong: leave out --axes to use them)")
        else:
            notes.append(f"--axes {given} differs from the file's own axes {found}; "
                         f"using it as given, which reads {read}")
    last = given.rstrip("S")
    if last.endswith("C") and int(shape[len(last) - 1]) <= 16:  # read whole with each pixel
        last = last[:-1]
    if set(last[-2:]) != set("YX"):
        after = "".join(a for a in last[min(last.index("Y"), last.index("X")):] if a not in "YX")
        notes.append(f"--axes {given} puts {after} after Y and X: the image is read a "
                     "few pixels at a time, about 10 times slower than with Y, X last; check "
                     "that this is the file's order (saved as "
                     f"{after}{''.join(a for a in given if a not in after)} it runs faster)")
    return notes


def channel_hint(axes: str, shape, channels: int) -> str:
    """'; its Z axis has 3: if it holds the channels, give axes='CYX'' for an image without a
    channel axis that has an axis of ``channels`` (an H&E array read as ZYX had said only that
    the axis was missing); a last axis of 3 or 4 (RGB, RGBA) as S, a planar RGBA moved last;
    '' where no axis fits."""
    shape = tuple(int(n) for n in shape)
    last = len(axes) - 1
    rgba = channels == 3  # an RGB network also takes RGBA (its alpha passed through)
    fits = [i for i, n in enumerate(shape) if n == channels or (rgba and n == 4)]
    i = next((i for i in fits if axes[i] not in "YX"), fits[-1] if fits else None)
    if i is None or len(axes) < 3:
        return ""
    rest = [a for j, a in enumerate(axes) if j != i]
    if axes[i] in "YX":  # a channel axis read as Y or X: the others are the image's planes
        rest = list("TZYX"[-len(rest):])
    if shape[i] == 4 or i == last:
        what = "RGBA" if shape[i] == 4 else "RGB"
        move = "" if i == last else f"move it last (np.moveaxis(image, {i}, -1)) and "
        return (f"; its {axes[i]} axis has {shape[i]}: if it holds the {what} samples, {move}"
                f"give axes={''.join(rest) + 'S'!r}")
    return (f"; its {axes[i]} axis has {shape[i]}: if it holds the channels, give "
            f"axes={''.join(rest[:i] + ['C'] + rest[i:])!r}")


def _no_channel_axis(method, axes: str, shape) -> str:
    """Why a network of several channels cannot take an image without a channel axis: axes
    to give where one axis could hold the channels, else that the image is grayscale (the
    user who never gave axes was told only that 'axes' had no channel axis)."""
    n = method.in_channels
    hint = channel_hint(axes, shape, n)
    if hint:
        return (f"method {method.name!r} expects {n} channels but axes={axes!r} has no "
                f"channel axis (C, or S for RGB){hint}")
    kind = {3: "RGB", 4: "RGBA"}.get(n, f"{n}-channel")
    return (f"method {method.name!r} takes {kind} images ({n} channels) but the image is "
            f"grayscale (read as {axes}, no channel axis); give it {kind} images, or use a "
            "network for grayscale images")


def size(axes: str, shape, letter: str) -> int:
    """The length of axis ``letter`` (1 when ``axes`` does not have it)."""
    return int(shape[axes.index(letter)]) if letter in axes else 1


def loop_axes(axes: str, keep: str = "YXS") -> str:
    """The axes that are iterated over, in order: all but those in ``keep``."""
    return "".join(a for a in axes if a not in keep)


def key(axes: str, where: dict) -> tuple:
    """Index into an array with ``axes``: ``where[a]`` (int or slice), every other axis whole."""
    return tuple(where.get(a, slice(None)) for a in axes)


def plane_indices(axes: str, shape, keep: str = "YXS") -> list[tuple[int, ...]]:
    """Every index over ``loop_axes(axes, keep)``, in C order (one empty tuple for none)."""
    sizes = [int(shape[axes.index(a)]) for a in loop_axes(axes, keep)]
    return list(itertools.product(*(range(n) for n in sizes)))


def iter_planes(image, axes: str, keep: str = "YXS") -> Iterator[tuple[tuple[int, ...], object]]:
    """``(index, plane)`` for every plane of ``image``: the plane keeps the axes in ``keep``
    in their original order, indexed lazily (a dask or zarr array reads one plane at a time)."""
    loop = loop_axes(axes, keep)
    for index in plane_indices(axes, image.shape, keep):
        yield index, image[key(axes, dict(zip(loop, index)))]


def to_order(array, axes: str, order: str):
    """``array`` with axes ``axes`` transposed to ``order`` (the same letters)."""
    if sorted(axes) != sorted(order):
        raise ValueError(f"cannot move axes {axes!r} to {order!r}: the letters differ")
    return np.transpose(array, [axes.index(a) for a in order])


def stack_planes(array: np.ndarray, axes: str) -> tuple[np.ndarray, tuple[int, ...], str]:
    """``array`` as a stack (N, *plane) of its planes: the loop axes first, flattened, then the
    channel axis (if any), Y, X. Returns the stack, the loop shape and the plane's axes."""
    channel = channel_letter(axes)
    loop = loop_axes(axes, "YX" + (channel or ""))
    plane = (channel or "") + "YX"
    moved = to_order(array, axes, loop + plane)
    loop_shape = moved.shape[: len(loop)]
    return moved.reshape(-1, *moved.shape[len(loop):]), tuple(loop_shape), plane


@dataclass(frozen=True)
class Layout:
    """How the planes and tiles of an image map to (C, *spatial) blocks for a method.

    ``loop_axes`` are iterated over; ``channel_axis`` (if any) is given to the method whole;
    ``spatial_axes`` are tiled ('YX', or 'ZYX' for a 3D method).
    """

    axes: str
    shape: tuple[int, ...]
    loop_axes: tuple[str, ...]
    channel_axis: str | None
    spatial_axes: str

    @classmethod
    def for_method(cls, axes: str, shape, method) -> Layout:
        """The layout for a method with ``spatial_dims``, ``in_channels`` and ``name``; raises
        ValueError when the image cannot feed it (no Z for 3D, a channel mismatch)."""
        shape = tuple(int(s) for s in shape)
        spatial = "ZYX" if method.spatial_dims == 3 else "YX"
        if method.spatial_dims == 3 and "Z" not in axes:
            psf = getattr(method, "psf_shape", None)
            why = f" (its PSF {' x '.join(map(str, psf))} is 3D: give a 2D PSF)" if psf else ""
            raise ValueError(f"method {method.name!r} is 3D{why} but axes={axes!r} has no Z "
                             "axis")
        channel = channel_letter(axes)
        n_channels = size(axes, shape, channel) if channel else 1
        if channel is None and method.in_channels not in (None, 1):
            raise ValueError(_no_channel_axis(method, axes, shape))
        # a model with a fixed channel count takes the channel axis whole; otherwise it loops
        if channel and method.in_channels not in (None, n_channels):
            if method.in_channels != 1:
                raise ValueError(
                    f"method {method.name!r} expects {method.in_channels} channels; the image's "
                    f"{channel} axis has {n_channels}"
                )
            channel = None  # each channel deblurred on its own
        loop = tuple(a for a in axes if a not in spatial and a != channel)
        return cls(axes, shape, loop, channel, spatial)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[self.axes.index(a)] for a in self.spatial_axes)

    @property
    def channels(self) -> int:
        return self.shape[self.axes.index(self.channel_axis)] if self.channel_axis else 1

    @property
    def planes(self) -> list[tuple[int, ...]]:
        return plane_indices(self.axes, self.shape, keep="".join(
            a for a in self.axes if a not in self.loop_axes))

    @property
    def block_axes(self) -> list[str]:
        return ([self.channel_axis] if self.channel_axis else []) + list(self.spatial_axes)

    @property
    def region_axes(self) -> list[str]:
        # the order in which an indexed region comes back: the original, loop axes dropped
        return [a for a in self.axes if a not in self.loop_axes]

    def index(self, plane: tuple[int, ...], spatial_slices: tuple[slice, ...]) -> tuple:
        where = dict(zip(self.loop_axes, plane))
        where.update(zip(self.spatial_axes, spatial_slices))
        return key(self.axes, where)

    def read(self, image, plane, spatial_slices) -> np.ndarray:
        region = np.asarray(image[self.index(plane, spatial_slices)])
        block = region.transpose([self.region_axes.index(a) for a in self.block_axes])
        return block if self.channel_axis else block[None]

    def write(self, out, plane, spatial_slices, block: np.ndarray) -> None:
        block = block if self.channel_axis else block[0]
        order = [self.block_axes.index(a) for a in self.region_axes]
        out[self.index(plane, spatial_slices)] = block.transpose(order)


def repeated_target(sharp, sharp_axes: str, blurry_shape: tuple, blurry_axes: str):
    """``sharp`` repeated for every plane of a blurry z-stack (or time series) when it is one
    plane of the stack's field (YX against ZYX, YXS against ZYXS): a separately recorded
    in-focus image paired with each defocused plane. None when it is not such a plane. A
    read-only view: the planes share the one target, so only a band of each plane (or whole files)
    may be held out for validation, never some of its planes."""
    stack_only = [a for a in blurry_axes if a not in sharp_axes]
    if not stack_only or set(stack_only) - set("TZ") or \
            [a for a in blurry_axes if a in sharp_axes] != list(sharp_axes):
        return None
    sharp = np.asarray(sharp)
    if sharp.ndim != len(sharp_axes) or any(
            n != blurry_shape[blurry_axes.index(a)] for a, n in zip(sharp_axes, sharp.shape)):
        return None
    kept = [blurry_axes.index(a) for a in stack_only]
    return np.broadcast_to(np.expand_dims(sharp, tuple(kept)), tuple(blurry_shape))
