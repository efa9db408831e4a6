"""benchmarks/generalization.py's row groups: the unseen ssTEM sets, --only and --merge-into."""

import json
from pathlib import Path

import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
gen = load_script("benchmarks/generalization.py", "generalization")
tables = load_script("benchmarks/readme_tables.py", "readme_tables")


def _row(modality, set_name, degradation="A", psnr=20.0):
    cell = {"psnr": psnr, "ssim": 0.5, "psnr_whole": psnr, "ssim_whole": 0.5, "below_input": 0,
            "n": 3}
    return {"modality": modality, "set": set_name, "degradation": degradation,
            "methods": {"input": cell}}


def test_unseen_sets_are_em_groups_after_the_em_held_out_set():
    groups = gen.row_groups()
    assert groups.index("em") < groups.index("em_isbi2012_drosophila_vnc_sstem")
    assert groups.index("em_drosophila_vnc_sstem_gerhard2013") < groups.index("brightfield")
    modality, cfg = gen.group_config("em_drosophila_vnc_sstem_gerhard2013")
    # the EM networks and papers' weights, the set's own images
    assert modality == "em" and cfg["blind_v1"] == gen.HELD_OUT["em"]["blind_v1"]
    assert cfg["papers"] == gen.HELD_OUT["em"]["papers"]
    assert cfg["set"] == "em_drosophila_vnc_sstem_gerhard2013" and not cfg.get("rgb")


def test_unseen_sets_tune_on_training_images_and_no_network_saw_them():
    saw = " ".join(gen.NETWORKS_SAW.values())
    for name, cfg in gen.UNSEEN_SETS.items():
        assert name not in saw and "sstem" not in saw.lower()
        assert all(f.startswith("test/") for f in cfg["test"])
        assert all(f.startswith("train/") for f in cfg["train"]) and len(cfg["train"]) == 2


@pytest.mark.skipif(not (gen.SHARED / "em_isbi2012_drosophila_vnc_sstem").is_dir(),
                    reason="needs ../shared/data")
def test_unseen_set_files_exist_and_read_as_2d_grayscale():
    for cfg in gen.UNSEEN_SETS.values():
        for f in cfg["test"] + cfg["train"]:
            image = gen.read(gen.SHARED / cfg["set"] / f, False)
            assert image.ndim == 2 and image.dtype.name == "uint8", f


def test_only_picks_groups_in_table_order_and_names_the_known_ones():
    parser = gen.argparse.ArgumentParser()
    args = gen.argparse.Namespace(modalities="fluorescence,em,brightfield", no_real=False,
                                  only="em_drosophila_vnc_sstem_gerhard2013,real,em")
    assert gen._parts(args, parser) == ["em", "em_drosophila_vnc_sstem_gerhard2013", "real"]
    args.only = None
    assert gen._parts(args, parser) == [*gen.row_groups(), "real"]
    args.only = "em,isbi"
    with pytest.raises(SystemExit):
        gen._parts(args, parser)


def test_merge_replaces_only_the_groups_run_and_keeps_the_rest_as_it_was():
    base = {"command": "python benchmarks/generalization.py --parallel", "git_commit": "abc",
            "speed": {"x": 1.0},
            "rows": [_row("fluorescence", "fluo_set"),
                     _row("em", "em_sem_axondeepseg_rat_spinalcord"), _row("brightfield", "bf_set"),
                     _row("fluorescence (real defocus)", "lightsheet", "fold")]}
    before = json.dumps(base)
    isbi = "em_isbi2012_drosophila_vnc_sstem"
    part = {"command": "python benchmarks/generalization.py --only " + isbi, "git_commit": "def",
            "tree_differs_from_commit": True, "machine": "m", "minutes": 1.0,
            "images_per_set": 3, "crop": 512,
            "rows": [_row("em", isbi, "A", 25.0), _row("em", isbi, "B", 24.0)]}
    merged = gen.merge_into(json.loads(before), part, [isbi])
    assert [r["set"] for r in merged["rows"]] == [
        "fluo_set", "em_sem_axondeepseg_rat_spinalcord", isbi, isbi, "bf_set", "lightsheet"]
    kept = [r for r in merged["rows"] if r["set"] != isbi]
    assert json.dumps(kept) == json.dumps(base["rows"])  # bit for bit
    assert merged["command"] == base["command"] and merged["speed"] == base["speed"]
    assert merged["merged"][0]["groups"] == [isbi]
    assert merged["merged"][0]["command"] == part["command"]
    # merging the same group again replaces its rows and its record
    again = gen.merge_into(merged, {**part, "rows": [_row("em", isbi, "A", 26.0)]}, [isbi])
    assert [r["methods"]["input"]["psnr"] for r in again["rows"] if r["set"] == isbi] == [26.0]
    assert len(again["merged"]) == 1
    text = tables._merged_part(again["merged"][0])
    assert isbi in text and part["command"] in text and "tree differing" in text
