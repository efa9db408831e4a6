"""What each bundled model card, the bundled table and `microdeblur methods --json` say is true.

The licence of bundled weights is the licence of the training sets they learned
(``bundled.TRAINING_SET_LICENCES``, checked here against each set's PROVENANCE.md where
../shared/data is present); the number of sets a description states is the number trained
on; the dock's card summary shows the validation PSNR and CPU speed a card records.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from napari_microdeblur.core import bundled
from napari_microdeblur.core.catalog import list_methods
from napari_microdeblur.core.checkpoint import ModelCard, read_card

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10}
#: how each SPDX id is written in the PROVENANCE.md files
PROVENANCE_WORDING = {"BSD-3-Clause": "BSD-3-Clause", "CC-BY-4.0": "CC BY 4.0",
                      "NOASSERTION": "no explicit licence"}


def _cards():
    return {name: read_card(bundled.WEIGHTS_DIR / entry.file)
            for name, entry in bundled.BUNDLED_WEIGHTS.items() if bundled.is_installed(name)}


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data (PROVENANCE.md files)")
def test_set_licences_are_those_of_provenance():
    for name, licence in bundled.TRAINING_SET_LICENCES.items():
        text = (DATA / name / "PROVENANCE.md").read_text(encoding="utf-8")
        assert PROVENANCE_WORDING[licence].lower() in text.lower(), (name, licence)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_broad_sets_are_the_sets_the_training_scripts_read():
    """scripts/psf_aware_data.training_files (train_psf_aware, train_blind) reads six sets."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import psf_aware_data
    finally:
        sys.path.remove(str(REPO / "scripts"))
    files, _ = psf_aware_data.training_files(DATA)
    read = {path.relative_to(DATA).parts[0] for entries in files.values() for path, _ in entries}
    assert read == set(bundled.BROAD_TRAINING_SETS) and len(read) == 6


def test_each_licence_is_that_of_the_training_sets():
    """psf_cyclegan.fluo_v1 learned BSD-3-Clause and CC BY 4.0 sets; it said CC-BY-4.0 only."""
    listed = {e.name: e.training_data_license for e in list_methods()}
    for name, card in _cards().items():
        entry = bundled.BUNDLED_WEIGHTS[name]
        assert entry.training_sets and set(entry.training_sets) <= set(
            bundled.TRAINING_SET_LICENCES), name
        expected = bundled.training_data_licence(entry.training_sets)
        assert (entry.license, card.license, listed[name]) == (expected,) * 3, name
        for set_name in entry.training_sets:  # the card names what the licence is derived from
            assert set_name in card.training_data, (name, set_name)


def test_training_data_licence_combines_sets():
    assert bundled.training_data_licence(["fluorescence_2d"]) == "BSD-3-Clause"
    assert bundled.training_data_licence(
        ["fluorescence_neubias_training_resources", "fluorescence_2d",
         "brightfield_cellprofiler_worms_phase"]) == "BSD-3-Clause AND CC-BY-4.0"
    assert bundled.training_data_licence(
        ["fluorescence_2d", "em_epfl_hippocampus_fibsem"]) == "NOASSERTION"


def _stated_counts(text: str) -> list[int]:
    words = "|".join(NUMBER_WORDS)
    return [NUMBER_WORDS[m.lower()] for m in
            re.findall(rf"\b({words})\s+(?:microscopy\s+)?sets\b", text, flags=re.IGNORECASE)]


def test_set_counts_stated_are_the_sets_trained_on():
    """The c2f_unet *_v2 cards said 'seven microscopy sets'; they learned six."""
    for name, card in _cards().items():
        entry = bundled.BUNDLED_WEIGHTS[name]
        for text in (entry.description, card.description, card.training_data):
            for count in _stated_counts(text):
                assert count == len(entry.training_sets), (name, text)


def test_card_summary_shows_recorded_speed_and_network_psnr():
    """The dock said 'speed: not measured' for every wiener_unet card (they record
    cpu_megapixels_per_s_1024) and 'validation PSNR: not recorded' for psf_cyclegan.fluo_v1
    (its card records val_psnr_network beside RL's figures)."""
    from napari_microdeblur._widgets import _cards as cards

    card = ModelCard(arch="gran", in_channels=1, out_channels=1, metrics={
        "cpu_megapixels_per_s_1024": 1.797, "val_psnr_network": 35.884,
        "val_psnr_input": 34.526, "val_psnr_rl_true_psf": 38.2})
    assert cards.speed(card) == (
        "1.8 megapixels/s on a CPU (the card's figure, 1024 x 1024 image)")
    assert cards.validation_psnr(card) == "35.88 dB (input 34.53 dB)"
    # a card's own val_psnr still comes first
    card = card.model_copy(update={"metrics": {**card.metrics, "val_psnr": 30.0,
                                               "cpu_inference_megapixels_per_s": 0.4}})
    assert cards.validation_psnr(card).startswith("30.00 dB")
    assert cards.speed(card) == "0.4 megapixels/s on a CPU (the card's figure)"
    shipped = _cards()
    if "psf_cyclegan.fluo_v1" in shipped:
        assert cards.validation_psnr(shipped["psf_cyclegan.fluo_v1"]) != "not recorded"
    for name in ("wiener_unet.psf_v1", "wiener_unet.psf_v4"):
        if name in shipped:
            assert cards.speed(shipped[name]) != "not measured", name


def test_export_of_a_compound_licence_is_refused(tmp_path):
    """A card that names its training sets' licences together (psf_cyclegan.fluo_v1's
    'BSD-3-Clause AND CC-BY-4.0') is not one SPDX id, which the Zoo's rdf needs: refused in
    one line, nothing written; one licence passed on the card exports."""
    from test_weights_audit_2026_12_05 import _input, _tiny

    from napari_microdeblur.core.export import export_bioimageio

    model, target = _tiny("gran"), tmp_path / "g.zip"
    with pytest.raises(ValueError, match="one SPDX licence id") as err:
        export_bioimageio(model, {"license": "BSD-3-Clause AND CC-BY-4.0"}, target,
                          test_input=_input())
    assert "\n" not in str(err.value) and not target.exists()
    export_bioimageio(model, {"license": "BSD-3-Clause"}, target, test_input=_input())
    assert target.is_file()
