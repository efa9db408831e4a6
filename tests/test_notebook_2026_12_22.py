"""2026-12-22, a notebook walkthrough: a fine-tune's result
printed ~4,000 lines; the first network deblur moved torch's seeded random stream; a napari
layer or an xarray given to deblur was refused, or read, without a word on its array or dims."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

import napari_microdeblur as md
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.thread_warnings import caught

WIENER = {"method": "wiener", "psf": "gaussian:1.6", "balance": 0.01}
ASSUMED = "axes ZYX assumed"


def stacks(n: int) -> list[np.ndarray]:
    """(2, Y, X) images: their axes are guessed with a DeblurWarning each time."""
    return [np.random.default_rng(i).poisson(50, (2, 32, 32)).astype(np.uint16) for i in range(n)]


def users_warning() -> None:
    warnings.warn("the user's own warning", UserWarning, stacklevel=2)


@pytest.fixture(scope="module", autouse=True)
def warmed_up():
    """One deblur first: its lazy imports (torch's) reset the filters once, as in a notebook."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md.deblur(stacks(1)[0], **WIENER)


def loop(action: str, n: int = 3) -> tuple[int, int]:
    """How many of the package's and of the user's warnings a loop of ``n`` calls showed."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter(action)
        for image in stacks(n):
            users_warning()
            md.deblur(image, **WIENER)
    said = [str(w.message) for w in got]
    return (sum(s.startswith(ASSUMED) for s in said),
            said.count("the user's own warning"))


def test_an_error_filter_still_raises_at_each_call():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)
        for image in stacks(2):
            with pytest.raises(DeblurWarning, match=ASSUMED):
                md.deblur(image, **WIENER)


def test_a_worker_threads_caught_holds_every_calls_warnings():
    """The docks run the core in a thread inside ``caught()``: each run's lines reach it."""
    held: list = []

    def worker():
        with caught() as mine:
            for image in stacks(2):
                md.deblur(image, **WIENER)
        held.extend(str(w.message) for w in mine)

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("default")
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(60)
    assert sum(s.startswith(ASSUMED) for s in held) == 2
    assert not [w for w in got if str(w.message).startswith(ASSUMED)]


# ----------------------------------------------------------------------------- reprs


def test_a_finetune_result_prints_in_a_few_lines():
    from napari_microdeblur.core.finetune import FinetuneResult

    net = torch.nn.Sequential(*[torch.nn.Conv2d(8, 8, 3) for _ in range(40)])
    result = FinetuneResult(stopped=False, model=net, card=None, result=None,
                            summary="kept step 2", improved=True)
    said = repr(result)
    assert "Conv2d" not in said and len(said) < 400
    assert "summary='kept step 2'" in said and "improved=True" in said


def test_a_self_adapt_result_prints_in_a_few_lines():
    from napari_microdeblur.core.self_adapt import SelfAdaptResult

    net = torch.nn.Sequential(*[torch.nn.Conv2d(8, 8, 3) for _ in range(40)])
    result = SelfAdaptResult(model=net, improved=True, start_val_loss=1.0, best_val_loss=0.5,
                             best_step=4, steps_done=8, seconds=1.0, stopped="max_steps",
                             history=[{"step": s, "val_loss": 1.0} for s in range(500)],
                             notes=[], noise=[(1.0, 0.0)])
    said = repr(result)
    assert "Conv2d" not in said and "{'step'" not in said and len(said) < 1000
    assert "best_step=4" in said


# ----------------------------------------------------------------------------- random state


def test_the_first_network_deblur_leaves_torchs_random_stream_alone():
    from napari_microdeblur.core.checkpoint import ModelCache

    image = np.random.default_rng(0).poisson(50, (32, 32)).astype(np.uint16)
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md.deblur(image, method="gran.em_v1", models=ModelCache())  # a fresh load
    assert torch.equal(torch.rand(4), expected)


# ----------------------------------------------------------------------------- array holders


class Layer:
    """What a napari layer looks like to deblur: an array in ``.data``."""

    def __init__(self, data, multiscale=False):
        self.data, self.multiscale = data, multiscale


class Reader:
    """An AICSImage/BioImage: its pixels through ``get_image_data``."""

    data = np.zeros((1, 1, 2, 8, 8))

    def get_image_data(self, order="ZYX", **where):
        return np.zeros((2, 8, 8))


@pytest.mark.parametrize(("holder", "hint"), [
    (Layer(np.zeros((8, 8))), "pass its array: image.data"),
    (Layer(np.zeros((2, 8, 8)), multiscale=True), "image.data[0]"),  # its levels
    (Reader(), "image.get_image_data('ZYX', T=0, C=0)"),
    ([[1, 2], [3, 4]], "np.asarray(image)"),
])
def test_a_holder_of_an_array_is_refused_with_how_to_get_it(holder, hint):
    from napari_microdeblur.core.array_inputs import not_an_array

    said = not_an_array(holder)
    assert said.startswith("image must be an array (numpy, memmap, dask, zarr), not ")
    assert hint in said and "\n" not in said


def test_an_xarrays_dims_name_its_axes():
    xr = pytest.importorskip("xarray")
    from napari_microdeblur.core.axes import axes_of_dims

    image = xr.DataArray(np.zeros((2, 16, 16)), dims=("c", "y", "x"))
    axes, note = axes_of_dims(image, image.shape)
    assert axes == "CYX" and "dims ('c', 'y', 'x')" in note
    assert axes_of_dims(xr.DataArray(np.zeros((2, 16, 16)), dims=("T", "Y", "X")),
                        (2, 16, 16))[0] == "TYX"
    for dims in (("dim_0", "dim_1", "dim_2"), ("q", "y", "x"), ("s", "y", "x")):  # S: 5 long
        assert axes_of_dims(xr.DataArray(np.zeros((5, 16, 16)), dims=dims), (5, 16, 16)) is None
    assert axes_of_dims(np.zeros((2, 16, 16)), (2, 16, 16)) is None


def test_deblur_reads_an_xarray_like_dims_and_says_so():
    """An array naming its dims ('c', 'y', 'x'), as an xarray.DataArray does, ran as Z planes
    with a 'give axes=' warning; ``deblur`` now reads them, with one line."""
    import warnings

    import napari_microdeblur as md

    class Named(np.ndarray):  # xarray's shape of it: an array with .dims
        dims = ("c", "y", "x")

    image = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32).view(Named)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = md.deblur(image, method="wiener", psf="gaussian:1.2", balance=0.01)
    said = [str(w.message) for w in caught]
    assert any("axes CYX read from the array's dims" in s for s in said), said
    assert not any("give axes=" in s and "assumed" in s for s in said), said
    assert out.shape == (2, 32, 32)


def test_deblur_of_a_layer_like_object_says_to_pass_its_data():
    import napari_microdeblur as md

    class Layer:
        data = np.zeros((16, 16), np.float32)

    with pytest.raises(TypeError, match=r"pass its array: image\.data"):
        md.deblur(Layer(), method="wiener", psf="gaussian:1")


def test_a_fit_result_prints_without_its_weights():
    from napari_microdeblur.core.training.records import FitResult

    fields = FitResult.__dataclass_fields__
    assert fields["best_state"].repr is False


def _main_thread_line():
    warnings.warn("main-thread line", UserWarning, stacklevel=1)


@pytest.mark.parametrize("run", [1, 2])
def test_a_warning_said_in_the_last_test_is_seen_again_beside_a_worker(run, recwarn):
    """Review of f266425: a warning shown once stayed marked shown when the next test (or a
    catch_warnings block) installed a new list of equal filters, so a main-thread warning
    raised while a worker's caught() was open was dropped in the next test."""
    go, done = threading.Event(), threading.Event()

    def worker():
        with caught():
            go.set()
            done.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    go.wait()
    _main_thread_line()
    done.set()
    t.join()
    assert [str(w.message) for w in recwarn] == ["main-thread line"]


def test_dims_that_match_the_guess_are_not_said():
    """Review of f266425: a plain 2D xarray got 'axes YX read from the array's dims' at every
    call, though nothing was in doubt."""
    import napari_microdeblur as md

    class Named(np.ndarray):
        dims = ("y", "x")

    image = np.random.default_rng(1).random((32, 32)).astype(np.float32).view(Named)
    with warnings.catch_warnings(record=True) as caught_here:
        warnings.simplefilter("always")
        md.deblur(image, method="wiener", psf="gaussian:1.2", balance=0.01)
    assert not any("read from the array's dims" in str(w.message) for w in caught_here)
