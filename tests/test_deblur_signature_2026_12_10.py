"""``deblur`` spells its keywords out: help() and IDEs showed only ``(image, *, method,
**kwargs)``, not the keywords the README's *Python* section documents."""

import dataclasses
import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_microdeblur.core import bundled, checkpoint, inference
from napari_microdeblur.core.inference import (
    MethodSpec,
    Normalization,
    TilingSpec,
    deblur,
    drain,
    iter_deblur,
    split_options,
)

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
PARAMS = inspect.signature(deblur).parameters
KEYWORDS = [name for name, p in PARAMS.items() if p.kind == p.KEYWORD_ONLY]


def readme_keywords() -> dict:
    """The keywords and defaults of the README's `deblur(image, *, method, ...)`."""
    text = re.search(r"`deblur\(image, \*, method, (.*?)\)`", README, re.S).group(1)
    pairs = (p.split("=", 1) for p in re.sub(r"\s+", "", text).split(","))
    return {name: eval(value) for name, value in pairs}  # noqa: S307 (literals from README)


def test_signature_lists_the_readme_keywords_with_their_defaults():
    documented = readme_keywords()
    assert len(documented) >= 15  # the README's list was found
    assert "method" in KEYWORDS and PARAMS["method"].default is inspect.Parameter.empty
    assert not any(p.kind == p.VAR_KEYWORD for p in PARAMS.values())
    assert {name: PARAMS[name].default for name in documented if name in PARAMS} == documented
    assert set(KEYWORDS) == {"method", *documented}
    assert all(PARAMS[name].kind == inspect.Parameter.KEYWORD_ONLY for name in documented)


def test_defaults_are_the_specs_fields_and_the_forms_agree():
    method_fields = {f.name: f.default for f in dataclasses.fields(MethodSpec)}
    tiling_fields = {f.name: f.default for f in dataclasses.fields(TilingSpec)}
    others = {name: p.default for f in (split_options, iter_deblur)
              for name, p in inspect.signature(f).parameters.items()
              if p.default is not inspect.Parameter.empty and name != "method"}
    for name in KEYWORDS[1:]:
        source = method_fields if name in method_fields else tiling_fields
        expected = source.get(name, others.get(name))
        assert PARAMS[name].default == expected, name
        assert others[name] == expected, name  # iter_deblur/split_options take the same


def test_every_keyword_reaches_iter_deblur(monkeypatch):
    seen = {}

    def recording(image, **keywords):
        seen.update(keywords)
        raise LookupError("recorded")

    monkeypatch.setattr(inference, "iter_deblur", recording)
    given = {name: object() for name in KEYWORDS}
    with pytest.raises(LookupError, match="recorded"):
        deblur(np.zeros((8, 8)), **given)
    assert seen == given


IMAGE = (np.random.default_rng(0).random((48, 48)) * 1000).astype(np.float32)
WIENER = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.05}


def call_cases():
    weights = str(bundled.WEIGHTS_DIR / bundled.BUNDLED_WEIGHTS["gran.em_v1"].file)
    return {
        # WIENER's balance goes back to 'auto' and its PSF to None: 'auto' without a PSF
        # runs a network, which reads no balance (refused as given)
        "modality": {"method": "auto", "modality": "em", "balance": "auto", "psf": None},
        "axes": {"axes": "YX"},
        "tile": {"tile": 32, "overlap": 8},
        "overlap": {"overlap": 4},
        "window": {"window": "gaussian"},
        "device": {"device": "cpu"},
        "psf": {"psf": "disk:2"},
        "iterations": {"method": "richardson_lucy", "iterations": 5, "balance": "auto"},
        "balance": {"balance": 0.2},
        "tv_weight": {"method": "richardson_lucy", "iterations": 5, "tv_weight": 0.01,
                      "balance": "auto"},
        "weights": {"method": "auto", "weights": weights, "psf": None, "balance": "auto"},
        "output_dtype": {"output_dtype": "input"},
        "batch_size": {"tile": 32, "batch_size": 2},
        "precision": {"precision": "float32"},
        "noise_scale": {"method": "auto", "psf": "gaussian:1.4", "noise_scale": 2.0,
                        "balance": "auto"},
        "normalization": {"normalization": Normalization(0.0, 1000.0)},
        "out": {"out": np.empty(IMAGE.shape, np.float32)},
        "models": {"models": checkpoint.ModelCache()},
    }


@pytest.mark.parametrize("keyword", sorted(readme_keywords()))
def test_a_call_with_each_documented_keyword_works(keyword):
    cases = call_cases()
    assert set(cases) == set(readme_keywords())  # every documented keyword has a case
    options = {**WIENER, **cases[keyword]}
    image = IMAGE.astype(np.uint8 if keyword == "noise_scale" else np.uint16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the small-tile note: not what this checks
        out = deblur(image, **options)
        if keyword == "out":
            options["out"] = np.empty(IMAGE.shape, np.float32)
        expected = drain(iter_deblur(image, **options)).image
    assert out.shape == image.shape
    assert out.dtype == (image.dtype if keyword == "output_dtype" else np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    if keyword == "out":
        assert out is cases["out"]["out"]


def test_unknown_keyword_is_refused_naming_deblur():
    with pytest.raises(TypeError, match=r"deblur\(\) got an unexpected keyword argument "
                                        r"'iteration'"):
        deblur(IMAGE, method="wiener", psf="gaussian:1.2", iteration=20)


def test_method_and_options_stay_keyword_only():
    with pytest.raises(TypeError, match="positional argument"):
        deblur(IMAGE, "wiener")
    with pytest.raises(TypeError, match="'method'"):
        deblur(IMAGE)
    out = deblur(image=IMAGE, method="wiener", psf="gaussian:1.2", balance=0.05)
    assert out.shape == IMAGE.shape


def test_a_method_setting_beside_a_spec_is_refused_not_lost():
    """A MethodSpec holds its own settings: balance=0.3 beside one was silently ignored (a
    test of ours passed precision='float32' that way and ran in bfloat16)."""
    import numpy as np

    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import MethodSpec

    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    with pytest.raises(TypeError, match=r"balance=0.3 beside method=MethodSpec\(\.\.\.\)"):
        deblur(image, method=MethodSpec("wiener", psf="gaussian:1.6"), balance=0.3)
    # the same settings in the spec, or the default values beside it, run
    out = deblur(image, method=MethodSpec("wiener", psf="gaussian:1.6", balance=0.3),
                 device="cpu")
    assert out.shape == image.shape
