"""Self-describing checkpoints: save/load round trips, every refusal, bundled table, BioImage.IO."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_microdeblur.core import bundled, weights
from napari_microdeblur.core.bundled import BundledWeights
from napari_microdeblur.core.checkpoint import (
    CARD_KEY,
    ModelCard,
    check_channels,
    list_user_weights,
    load_model,
    read_card,
    save_weights,
    sha256_file,
)
from napari_microdeblur.core.export import export_bioimageio
from napari_microdeblur.core.registry import build_model, get_arch, list_archs

CARD = {
    "normalization": {"kind": "percentile", "low": 0.1, "high": 99.9},
    "training_data": "random tensors (test)",
    "degradation": "none",
    "metrics": {"psnr": 12.5},
    "license": "BSD-3-Clause",
    "description": "tiny test weights",
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name, {**get_arch(name).tiny_config, **overrides})


@pytest.fixture
def gran_file(tmp_path):
    model = tiny("gran")
    path = tmp_path / "gran_tiny.safetensors"
    save_weights(model, path, CARD)
    return model, path


@pytest.mark.parametrize("name", list_archs())
def test_round_trip_is_bit_identical(name, tmp_path):
    model = tiny(name, seed=1)
    path = tmp_path / f"{name}.safetensors"
    saved_card = save_weights(model, path, CARD)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    loaded, card = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    sd_a, sd_b = model.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys()
    for k in sd_a:
        assert sd_a[k].dtype == sd_b[k].dtype and torch.equal(sd_a[k], sd_b[k]), k
    assert loaded.config == model.config
    assert card.arch == name and card.config == model.config.model_dump(mode="json")
    assert card.metrics == {"psnr": 12.5} and card.license == "BSD-3-Clause"
    assert card.sha256 == sha256_file(path) and card.source == str(path)
    assert saved_card.sha256 is None
    model.eval()
    side = 2 * model.size_divisor if model.size_divisor >= 16 else 4 * model.size_divisor
    x = torch.rand((1, model.in_channels) + (side,) * model.spatial_dims)
    args = (torch.full((3, 3), 1 / 9),) if getattr(model, "needs_psf", False) else ()
    with torch.no_grad():
        assert torch.equal(model(x, *args), loaded(x, *args))


def test_card_in_metadata_and_header_only_read(gran_file):
    from safetensors import safe_open

    _, path = gran_file
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    data = json.loads(meta[CARD_KEY])
    assert (
        data["arch"] == "gran"
        and "sha256" not in data
        and data["training_data"].startswith("random")
    )
    card = read_card(path)
    assert card.in_channels == 1 and card.degradation == "none"


def test_save_refuses_contradicting_card_and_bad_suffix(tmp_path):
    model = tiny("gran")
    with pytest.raises(ValueError, match="in_channels"):
        save_weights(model, tmp_path / "a.safetensors", {"in_channels": 3})
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_weights(model, tmp_path / "a.pt", CARD)
    card = ModelCard(arch="gran", in_channels=1, out_channels=1, license="MIT")
    assert save_weights(model, tmp_path / "b.safetensors", card).license == "MIT"


def test_truncated_file_is_refused(gran_file, tmp_path):
    _, path = gran_file
    data = path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.safetensors.*(truncated|corrupt)"):
        load_model(bad)
    bad.write_bytes(data[:5])
    with pytest.raises(ValueError, match="truncated"):
        load_model(bad)


def test_keys_of_another_architecture_are_refused(gran_file, tmp_path):
    _, path = gran_file
    other = tiny("c2f_unet").state_dict()
    bad = tmp_path / "mixed.safetensors"
    save_file(
        {k: v.contiguous() for k, v in other.items()},
        str(bad),
        metadata={CARD_KEY: read_card(path).model_dump_json(exclude={"sha256", "source"})},
    )
    with pytest.raises(ValueError, match=r"mixed\.safetensors.*do not fit architecture 'gran'"):
        load_model(bad)
    # same architecture, other config: shape mismatch, named
    wide = tiny("gran", n_feats=12).state_dict()
    save_file(
        {k: v.contiguous() for k, v in wide.items()},
        str(bad),
        metadata={CARD_KEY: read_card(path).model_dump_json(exclude={"sha256", "source"})},
    )
    with pytest.raises(ValueError, match="shapes do not fit"):
        load_model(bad)


def test_card_config_with_unknown_field_is_refused(gran_file, tmp_path):
    model, path = gran_file
    card = json.loads(read_card(path).model_dump_json(exclude={"sha256", "source"}))
    card["config"]["warp_drive"] = True
    bad = tmp_path / "future.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(bad),
        metadata={CARD_KEY: json.dumps(card)},
    )
    with pytest.raises(ValueError, match=r"future\.safetensors.*unknown field 'warp_drive'.*"):
        load_model(bad)


def test_safetensors_without_card_needs_arch(tmp_path):
    model = tiny("gran")
    bare = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bare))
    with pytest.raises(ValueError, match="no napari-microdeblur model card; pass arch="):
        load_model(bare)
    loaded, card = load_model(bare, arch="gran", config=get_arch("gran").tiny_config)
    assert torch.equal(loaded.tail.weight, model.tail.weight) and card.arch == "gran"


class NotATensor:
    """A custom class: unpickling it needs code, which weights_only refuses."""

    def __init__(self):
        self.payload = [1, 2, 3]


def test_pt_state_dicts(tmp_path):
    model = tiny("gran")
    cfg = get_arch("gran").tiny_config
    plain = tmp_path / "plain.pth"
    torch.save(model.state_dict(), plain)
    loaded, card = load_model(plain, arch="gran", config=cfg)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    assert card.arch == "gran" and card.sha256 == sha256_file(plain)
    # wrapped and DataParallel-prefixed
    wrapped = tmp_path / "wrapped.pt"
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
        wrapped,
    )
    loaded, _ = load_model(wrapped, arch="gran", config=cfg)
    assert torch.equal(loaded.head.weight, model.head.weight)
    with pytest.raises(ValueError, match=r"plain\.pth.*pass arch="):
        load_model(plain)
    with pytest.raises(ValueError, match=r"plain\.pth.*do not fit architecture 'c2f_unet'"):
        load_model(plain, arch="c2f_unet", config=get_arch("c2f_unet").tiny_config)
    with pytest.raises(ValueError, match=r"unknown field 'bogus'"):
        load_model(plain, arch="gran", config={"bogus": 1})


def test_pt_needing_code_is_refused(tmp_path):
    evil = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": NotATensor()}, evil)
    with pytest.raises(ValueError, match=r"pickled\.pt: refused.*code"):
        load_model(evil, arch="gran")
    whole = tmp_path / "whole_module.pt"
    torch.save(tiny("gran"), whole)
    with pytest.raises(ValueError, match="refused"):
        load_model(whole, arch="gran")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        load_model(junk, arch="gran")


def test_bundled_weights_sha256_checked(gran_file, monkeypatch, tmp_path):
    _, path = gran_file
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", path.parent)
    table = {
        "gran.test_v1": BundledWeights(
            file=path.name, sha256=sha256_file(path), license="BSD-3-Clause", description="test"
        ),
        "gran.bad_v1": BundledWeights(
            file=path.name, sha256="0" * 64, license="BSD-3-Clause", description="x"
        ),
        "gran.gone_v1": BundledWeights(
            file="missing.safetensors", sha256="0" * 64, license="MIT", description="x"
        ),
    }
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    model, card = load_model("gran.test_v1")
    assert card.source == "gran.test_v1" and card.sha256 == table["gran.test_v1"].sha256
    assert "gran.test_v1" in bundled.list_bundled_weights()
    assert "gran.test_v1" in weights.BUNDLED_WEIGHTS  # the compatibility names follow
    with pytest.raises(ValueError, match=r"gran\.bad_v1.*sha256 mismatch"):
        load_model("gran.bad_v1")
    with pytest.raises(ValueError, match="missing"):
        load_model("gran.gone_v1")
    with pytest.raises(ValueError, match=r"no weights file 'gran\.nope'.*gran\.test_v1"):
        load_model("gran.nope")


def test_check_channels(gran_file):
    _, path = gran_file
    card = read_card(path)
    check_channels(card, 1)
    with pytest.raises(ValueError, match=r"expect 1 input channel.*image has 3"):
        check_channels(card, 3)


def test_list_user_weights(gran_file, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="junk"):
        found = list_user_weights(tmp_path)
    assert [p.name for p, _ in found] == ["gran_tiny.safetensors"]
    assert found[0][1].arch == "gran"


def test_unknown_suffix(tmp_path):
    f = tmp_path / "weights.h5"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown weights format"):
        load_model(f)


# --------------------------------------------------------------------------- BioImage Model Zoo


@pytest.fixture(scope="module")
def bioimageio_zip(tmp_path_factory):
    torch.set_num_threads(1)
    model = tiny("gran", seed=3)
    path = tmp_path_factory.mktemp("bmz") / "gran_tiny.zip"
    test_input = np.random.default_rng(0).random((16, 12), dtype=np.float32) * 1000
    export_bioimageio(model, CARD, path, test_input=test_input)
    return model, path


def test_bioimageio_export_contents_and_read_back(bioimageio_zip):
    model, path = bioimageio_zip
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        rdf = zf.read("rdf.yaml").decode()
        x = np.load(zf.open("test_input.npy"))
        y = np.load(zf.open("test_output.npy"))
        assert zf.read("cover.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert {
        "rdf.yaml",
        "test_input.npy",
        "test_output.npy",
        "cover.png",
        "gran.safetensors",
        "microdeblur_card.json",
        "weights_torchscript.pt",
        "weights_state_dict.pt",
    } <= names
    assert "format_version: 0.5." in rdf
    assert x.shape == (1, 1, 16, 12) and y.shape == (1, 1, 16, 12)
    loaded, card = load_model(path)
    assert card.arch == "gran" and card.metrics == {"psnr": 12.5}
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # the test output is the model applied to the percentile-normalised test input
    lo, hi = np.percentile(x, [0.1, 99.9])
    with torch.no_grad():
        expected = loaded(
            torch.from_numpy(((x - lo) / (hi - lo + 1e-6)).astype(np.float32))
        ).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_bioimageio_export_passes_the_spec_validator(bioimageio_zip):
    spec = pytest.importorskip("bioimageio.spec")
    _, path = bioimageio_zip
    descr = spec.load_description(str(path), perform_io_checks=True)
    summary = descr.validation_summary
    assert summary.status in ("valid-format", "passed"), summary.format()


def test_truncated_zip_is_refused(bioimageio_zip, tmp_path):
    _, path = bioimageio_zip
    bad = tmp_path / "cut.zip"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.zip"):
        load_model(bad)


def test_explicit_arch_must_match_the_card(gran_file, bioimageio_zip):
    """`microdeblur deblur --method gran --weights FILE` passes arch=; it must agree."""
    _, path = gran_file
    model, card = load_model(path, arch="gran")
    assert card.arch == "gran"
    with pytest.raises(ValueError, match=r"holds a 'gran' model, not 'sgpn'"):
        load_model(path, arch="sgpn")
    with pytest.raises(ValueError, match="do not pass config="):
        load_model(path, config={"n_feats": 4})
    _, zpath = bioimageio_zip
    with pytest.raises(ValueError, match=r"gran_tiny\.zip.*not 'c2f_unet'"):
        load_model(zpath, arch="c2f_unet")


@pytest.mark.slow
def test_bundled_model_export_passes_bioimageio_core_without_warnings(tmp_path):
    """bioimageio.core's own test (both weight formats reproduce the test output, several
    input sizes) on a bundled model, whose description is longer than the Zoo's 512 characters:
    the rdf carries a short one, README.md the whole."""
    core = pytest.importorskip("bioimageio.core")
    from napari_microdeblur.core.export import DESCRIPTION_LIMIT

    model, card = load_model("gran.fluo_v1")
    assert len(card.description) > DESCRIPTION_LIMIT
    path = tmp_path / "fluo.zip"
    rng = np.random.default_rng(0)
    export_bioimageio(model, card, path, test_input=rng.random((64, 64), dtype=np.float32) * 255)
    summary = core.test_model(str(path))
    assert summary.status == "passed", summary.format()
    locations = [w.loc for d in summary.details for w in d.warnings]
    assert ("description",) not in locations, locations
    with zipfile.ZipFile(path) as zf:
        readme = zf.read("README.md").decode()
    assert card.description in readme
