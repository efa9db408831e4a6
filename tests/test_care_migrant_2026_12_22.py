"""A user coming from CSBDeep/CARE, CAREamics or Cellpose: their files and keywords are said
as what they are, with what to give here (a walkthrough found refusals that sent them to a
bioio plugin for .npz, to convert weights_best.h5 to TIFF, or gave a bare TypeError)."""

import json
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from _scripts import load_script

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.checkpoint import ArchitectureUnknownError, load_model
from napari_microdeblur.core.inference import compute_normalization, deblur, iter_deblur
from napari_microdeblur.core.input_files import find_inputs
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.run_paths import missing_weights
from napari_microdeblur.core.state_dict_files import _model_shapes

IMAGE = (np.random.default_rng(0).random((48, 48)) * 200).astype(np.float32)
WIENER = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.05}
KERAS = "Keras weights, as CSBDeep/CARE and n2v write, are not a napari-microdeblur network"


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ----------------------------------------------------------------------------- a. CARE .npz


@pytest.mark.parametrize(("shape", "axes", "index", "stack"), [
    ((4, 1, 16, 16), "SCYX", "[:, 0]", "ZYX"),
    ((2, 1, 3, 16, 16), "SCZYX", "[:, 0]", "TZYX"),
    ((4, 16, 16, 1), "SYXC", "[..., 0]", "ZYX"),
])
def test_care_training_npz_is_said_as_two_tiff_stacks(tmp_path, monkeypatch, shape, axes, index,
                                                      stack):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    np.savez(tmp_path / "data.npz", X=x, Y=x + 1, axes=axes)
    with pytest.raises(ValueError) as caught:
        io.read_image(tmp_path / "data.npz")
    said = str(caught.value)
    assert "bioio plugin" not in said and "CARE training data" in said, said
    assert f"axes {axes}" in said and f"d['X']{index}" in said and f"--axes {stack}" in said
    # the code the line gives runs and writes the stacks it names
    code = said.split("e.g. ", 1)[1].split(", then give", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(code, {"np": np, "tifffile": tifffile})  # noqa: S102 (our own message's code)
    blurry = tifffile.imread(tmp_path / "blurry.tif")
    assert blurry.ndim == len(stack) and np.array_equal(tifffile.imread("sharp.tif"), blurry + 1)


def test_care_npz_given_as_blurry_is_said_in_one_line(tmp_path, capsys, monkeypatch):
    x = np.zeros((3, 1, 16, 16), np.float32)
    np.savez(tmp_path / "care.npz", X=x, Y=x, axes="SCYX")
    monkeypatch.chdir(tmp_path)
    assert main(["info", "care.npz"]) == 2
    line = error_line(capsys)
    assert "CARE training data (X and Y of 3 x 1 x 16 x 16, axes SCYX)" in line, line
    assert "--blurry blurry.tif --sharp sharp.tif --axes ZYX" in line


# ----------------------------------------------------------------------------- b. Keras folder


def care_model_folder(tmp_path):
    folder = tmp_path / "models" / "my_care"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"axes": "YXC", "n_dim": 2,
                                                    "unet_n_depth": 2, "train_loss": "mae"}))
    for name in ("weights_best.h5", "weights_last.h5"):  # HDF5 bytes naming Keras' attributes
        (folder / name).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64 + b"keras_version")
    return folder


def test_care_model_folder_is_said_keras_where_images_are_wanted(tmp_path):
    folder = care_model_folder(tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        find_inputs(folder)
    said = str(caught.value)
    assert "CSBDeep/CARE or n2v model folder (config.json, weights_best.h5" in said, said
    assert KERAS in said and "tifffile.imwrite" not in said


def test_care_model_folder_as_weights_is_said_keras(tmp_path):
    folder = care_model_folder(tmp_path)
    with pytest.raises(ValueError) as caught:
        missing_weights(folder, [])
    assert KERAS in str(caught.value) and "inside it" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        MethodSpec("auto", weights=str(folder)).check()
    assert KERAS in str(caught.value) and "inside it" not in str(caught.value)
    # a folder of other weights keeps its line
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="give the .safetensors, .pt/.pth or .zip file inside"):
        missing_weights(tmp_path / "other", [])


# ----------------------------------------------------------------------------- c. base folder


def test_csbdeep_base_folder_names_its_subfolders_and_the_pair(tmp_path):
    for sub in ("GT", "low"):
        (tmp_path / "base" / sub).mkdir(parents=True)
        for n in range(2):
            tifffile.imwrite(tmp_path / "base" / sub / f"{n}.tif", np.zeros((8, 8), np.uint8))
    base = tmp_path / "base"
    with pytest.raises(FileNotFoundError) as caught:
        find_inputs(base)
    said = str(caught.value)
    assert "its subfolders do: 'GT' (2 image files), 'low' (2 image files)" in said, said
    assert f"--blurry {base / 'low'} --sharp {base / 'GT'}" in said
    assert len(find_inputs(base, recursive=True)) == 4  # unchanged with recursive


def test_one_subfolder_of_images_is_named(tmp_path):
    (tmp_path / "top" / "sub").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "top" / "sub" / "a.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(FileNotFoundError) as caught:
        find_inputs(tmp_path / "top")
    said = str(caught.value)
    assert "its subfolder 'sub' does (1 image file): give that folder" in said, said
    assert "--blurry" not in said


# ----------------------------------------------------------------------------- d. keywords


@pytest.mark.parametrize(("keyword", "value", "words"), [
    ("n_tiles", (2, 2), "n_tiles is CSBDeep's count of tiles; here tile= takes pixels"),
    ("normalizer", None, "normalization=compute_normalization(image, axes, 'percentile', 1, "
                         "99.8)"),
    ("tile_size", 256, "here give tile="),
])
def test_care_keywords_are_said_with_their_counterpart(keyword, value, words):
    for function in (deblur, iter_deblur):
        with pytest.raises(TypeError) as caught:
            function(IMAGE, **WIENER, **{keyword: value})
        said = str(caught.value)
        assert said.startswith(f"{function.__name__}() got an unexpected keyword argument "
                               f"'{keyword}': ") and words in said, said


def test_other_unknown_keywords_stay_pythons_own():
    with pytest.raises(TypeError, match=r"^deblur\(\) got an unexpected keyword argument "
                                        r"'n_tile'"):
        deblur(IMAGE, **WIENER, n_tile=(2, 2))


@pytest.mark.parametrize(("value", "call"), [
    ("percentile", "compute_normalization(image, axes, 'percentile')"),
    ((1, 99.8), "compute_normalization(image, axes, 'percentile', 1, 99.8)"),
    ([0.5, 99], "compute_normalization(image, axes, 'percentile', 0.5, 99)"),
])
def test_a_care_normalization_names_the_call_that_makes_it(value, call):
    for function in (deblur, iter_deblur):
        with pytest.raises(TypeError) as caught:
            function(IMAGE, **WIENER, normalization=value)
        said = str(caught.value)
        assert said.startswith("normalization must be a Normalization") and call in said, said
        assert "from napari_microdeblur.core.inference import compute_normalization" in said
    # the call named runs
    out = deblur(IMAGE, **WIENER, normalization=compute_normalization(IMAGE, "YX", "percentile",
                                                                      1, 99.8))
    assert out.shape == IMAGE.shape


# ----------------------------------------------------------------------------- e. no ending


def test_an_extensionless_pytorch_file_of_another_network_gets_the_state_dict_refusal(
        tmp_path, capsys, monkeypatch):
    path = tmp_path / "denoise_cyto3"  # Cellpose saves its models without an ending
    torch.save({"encoder.conv1.weight": torch.zeros(2, 1, 3, 3),
                "encoder.conv1.bias": torch.zeros(2)}, path)
    for call in (lambda: missing_weights(path, []), lambda: load_model(path)):
        with pytest.raises(ArchitectureUnknownError) as caught:
            call()
        said = str(caught.value)
        assert "unknown weights format" not in said and "without a .pt ending" in said, said
        assert "named as in none of" in said and not caught.value.like
    tifffile.imwrite(tmp_path / "in.tif", IMAGE)
    monkeypatch.chdir(tmp_path)
    assert main(["deblur", "in.tif", "-o", "out.tif", "--weights", "denoise_cyto3"]) == 2
    assert "--weights 'denoise_cyto3' is not a microdeblur network" in error_line(capsys)
    assert main(["info", "denoise_cyto3"]) == 2
    line = error_line(capsys)
    assert "is a PyTorch file" in line and "rename it to denoise_cyto3.pt" in line, line


def test_an_extensionless_state_dict_of_ours_is_to_be_renamed(tmp_path):
    path = tmp_path / "gran_weights"
    torch.save({name: torch.zeros(1) for name in _model_shapes("gran", {})}, path)
    with pytest.raises(ValueError, match=r"a PyTorch state dict without its ending: rename it "
                                         r"to gran_weights\.pt"):
        missing_weights(path, [])


def test_other_extensionless_files_say_what_they_are(tmp_path):
    zoo = tmp_path / "model_package"
    with zipfile.ZipFile(zoo, "w") as zf:
        zf.writestr("rdf.yaml", "type: model\n")
    with pytest.raises(ValueError, match="BioImage Model Zoo package without its .zip ending: "
                                         "rename it to model_package.zip"):
        missing_weights(zoo, [])
    junk = tmp_path / "notes"
    junk.write_bytes(b"hello, not weights")
    with pytest.raises(ValueError, match="no file ending, and its bytes are not weights"):
        missing_weights(junk, [])
    keras = tmp_path / "care_model"
    keras.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 16 + b"layer_names")
    with pytest.raises(ValueError, match="holds Keras weights: Keras weights, as CSBDeep"):
        missing_weights(keras, [])


# ----------------------------------------------------------------------------- f. benchmark


FIG = {"psnr": 20.0, "ssim": 0.5}
ROW = {"set": "s", "input": FIG, "wiener": FIG, "richardson_lucy": FIG}


def test_peers_quality_classical_needs_no_peer_python(tmp_path, monkeypatch):
    script = load_script("benchmarks/peers_quality.py", "peers_quality_care_migrant")
    monkeypatch.setattr(script, "bench", lambda: SimpleNamespace(SSTEM={"s": None}))
    monkeypatch.setattr(script, "run_set", lambda name, args, save: dict(ROW))
    assert script.main(["--stages", "classical", "--json", str(tmp_path / "r.json")]) == 0
    with pytest.raises(SystemExit):  # the peer's stages still need its environment
        script.main(["--stages", "classical,peer", "--json", str(tmp_path / "r.json")])


def test_peers_quality_table_has_as_many_header_cells_as_separators():
    script = load_script("benchmarks/peers_quality.py", "peers_quality_care_migrant")
    lines = script.table([ROW]).splitlines()
    cells = [len(line.strip().strip("|").split("|")) for line in lines]
    assert cells == [3, 3, 3], lines


def test_only_torch_saves_are_sniffed_as_torch(tmp_path):
    """Review of 5a80a24: any file starting 0x80 0x02-0x05 (a raw image, any pickle) had been
    called a PyTorch file; a legacy torch.save pickles its magic number first."""
    import os
    import pickle

    import torch

    from napari_microdeblur.core.foreign_files import sniff

    (tmp_path / "raw").write_bytes(b"\x80\x03" + os.urandom(256))
    (tmp_path / "pickle").write_bytes(pickle.dumps({"x": 1}, protocol=4))
    torch.save({"a": torch.zeros(2)}, tmp_path / "zip")
    torch.save({"a": torch.zeros(2)}, tmp_path / "legacy", _use_new_zipfile_serialization=False)
    torch.save({"a": torch.zeros(2)}, tmp_path / "legacy4", _use_new_zipfile_serialization=False,
               pickle_protocol=4)
    assert [sniff(tmp_path / n) for n in ("raw", "pickle", "zip", "legacy", "legacy4")] == [
        None, None, "torch", "torch", "torch"]
