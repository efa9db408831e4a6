"""CLI new-user review of 2026-12-05: --axes contradicting the axes a file states; guessed
axes of a 4D/5D file said; folder batches and their subfolders (--recursive), an output folder
that cannot be written refused once; the modality 'auto' chose for a grayscale image; a
PSF-aware --weights file named as --weights."""

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from _sparse_cells import cells

from napari_microdeblur.cli import main

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01"]
WEIGHTS = Path(__file__).resolve().parents[1] / "src/napari_microdeblur/weights"


def _image(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 200).astype(np.uint8)


def _imagej(path, shape, axes):
    tifffile.imwrite(path, _image(shape), imagej=True, metadata={"axes": axes})
    return path


def _warnings(err):
    return [line for line in err.splitlines() if "warning" in line]


# --------------------------------------------------------------------------- --axes


def test_axes_reordering_the_files_own_axes_is_said_and_used(tmp_path, capsys):
    """The file's own letters in another order: one line says what that reads (Z planes as
    channels), and the given axes win (a file's metadata can be wrong)."""
    source = _imagej(tmp_path / "zc.tif", (6, 3, 32, 32), "ZCYX")
    out = tmp_path / "a.tif"
    assert main(["deblur", str(source), "-o", str(out), "--axes", "CZYX", *WIENER, "-q"]) == 0
    lines = [w for w in _warnings(capsys.readouterr().err) if "another order" in w]
    assert len(lines) == 1
    assert "CZYX" in lines[0] and "ZCYX" in lines[0] and "6 Z planes as channels" in lines[0]
    assert "leave out --axes" in lines[0]
    assert tifffile.TiffFile(out).series[0].shape[:2] == (3, 6)  # as given: Z 3, C 6


def test_axes_moving_z_after_y_x_of_a_stated_stack_is_said(tmp_path, capsys):
    source = _imagej(tmp_path / "zyx.tif", (20, 32, 32), "ZYX")
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--axes", "YXZ",
                 *WIENER, "-q"]) == 0
    err = capsys.readouterr().err
    assert "another order" in err and "slower" in err


def test_axes_relabelling_the_files_axes_is_said_in_one_line_and_used(tmp_path, capsys):
    source = _imagej(tmp_path / "t.tif", (5, 32, 32), "TYX")
    out = tmp_path / "a.tif"
    assert main(["deblur", str(source), "-o", str(out), "--axes", "ZYX", *WIENER, "-q"]) == 0
    lines = [w for w in _warnings(capsys.readouterr().err) if "differs" in w]
    assert len(lines) == 1
    assert "axes ZYX" in lines[0] and "TYX" in lines[0] and "5 time points as Z planes" in lines[0]
    assert tifffile.TiffFile(out).series[0].axes == "ZYX"


def test_axes_the_file_states_given_again_say_nothing(tmp_path, capsys):
    source = _imagej(tmp_path / "zc.tif", (6, 3, 32, 32), "ZCYX")
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--axes", "zcyx",
                 *WIENER, "-q"]) == 0
    assert not [w for w in _warnings(capsys.readouterr().err) if "axes" in w]


def test_axes_putting_z_after_y_x_of_an_unmarked_file_warn_that_it_is_slow(tmp_path, capsys):
    source = tmp_path / "yxz.tif"
    tifffile.imwrite(source, _image((32, 32, 20)))  # no axes in the file
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--axes", "YXZ",
                 *WIENER, "-q"]) == 0
    lines = [w for w in _warnings(capsys.readouterr().err) if "slower" in w]
    assert len(lines) == 1 and "Z after Y and X" in lines[0] and "ZYX" in lines[0]


def test_channels_last_read_whole_are_not_called_slow(tmp_path, capsys):
    source = tmp_path / "yxc.tif"
    tifffile.imwrite(source, _image((32, 32, 3)), photometric="minisblack", planarconfig="contig")
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--axes", "YXC",
                 *WIENER, "-q"]) == 0
    assert tifffile.imread(tmp_path / "a.tif").shape == (32, 32, 3)
    assert not [w for w in _warnings(capsys.readouterr().err) if "slower" in w]


@pytest.mark.parametrize(("shape", "guess", "other"), [((3, 4, 2, 32, 32), "TCZYX", "TZCYX"),
                                                       ((6, 2, 32, 32), "TZYX", "ZCYX")])
def test_guessed_axes_of_a_4d_or_5d_file_are_said(tmp_path, capsys, shape, guess, other):
    source = tmp_path / "unmarked.tif"
    tifffile.imwrite(source, _image(shape))
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), *WIENER, "-q"]) == 0
    lines = [w for w in _warnings(capsys.readouterr().err) if "assumed" in w]
    assert len(lines) == 1 and guess in lines[0] and f"--axes {other}" in lines[0]


def test_watch_says_a_contradicting_axes_once_per_file(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    stack = np.stack([cells(seed, size=128, n=6) for seed in range(3)]).astype(np.uint8)
    tifffile.imwrite(src / "t.tif", stack, imagej=True, metadata={"axes": "TYX"})
    assert main(["watch", str(src), str(out), "--threshold", "1e9", "--once", "--settle", "0",
                 "--axes", "ZYX", *WIENER, "-q"]) == 0
    assert (out / "t_deblurred.tif").exists()  # read with the axes twice: scored, deblurred
    assert len([w for w in _warnings(capsys.readouterr().err) if "differs" in w]) == 1


# --------------------------------------------------------------------------- batches


def _tree(tmp_path):
    """in/top.tif, in/sub/a.tif, in/sub/deeper/b.tif, in/.hidden/c.tif"""
    root = tmp_path / "in"
    for rel in ("top.tif", "sub/a.tif", "sub/deeper/b.tif", ".hidden/c.tif"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / rel, _image((32, 32)))
    return root


def test_a_folder_batch_says_how_many_images_its_subfolders_hold(tmp_path, capsys):
    root, out = _tree(tmp_path), tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(root), "-o", str(out), *WIENER, "-q"]) == 0
    lines = [w for w in _warnings(capsys.readouterr().err) if "subfolders" in w]
    assert len(lines) == 1 and "1 image file directly in them" in lines[0]
    assert "--recursive" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["top_deblurred.tif"]


def test_a_folder_with_images_only_in_subfolders_names_them_and_recursive(tmp_path, capsys):
    root, out = _tree(tmp_path), tmp_path / "out"
    (root / "top.tif").unlink()
    out.mkdir()
    assert main(["deblur", str(root), "-o", str(out), *WIENER, "-q"]) == 2
    err = capsys.readouterr().err
    assert "holds no image file itself" in err and "1 image file directly in them" in err
    assert "--recursive" in err


def test_recursive_mirrors_the_subfolders_and_a_rerun_skips_them(tmp_path, capsys):
    root, out = _tree(tmp_path), tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER, "-q"]) == 0
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.tif"))
    assert made == ["sub/a_deblurred.tif", "sub/deeper/b_deblurred.tif", "top_deblurred.tif"]
    capsys.readouterr()
    assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER]) == 0
    said = capsys.readouterr().out
    assert said.count("exists, skipped") == 1  # the first; the others counted (2026-12-22)
    assert "2 more outputs exist, skipped (--overwrite redoes them)" in said


def test_recursive_into_a_folder_inside_the_input_does_not_read_its_outputs(tmp_path):
    root = _tree(tmp_path)
    out = root / "out"
    out.mkdir()
    for _ in range(2):
        assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER, "-q"]) == 0
    assert len(list(out.rglob("*.tif"))) == 3  # no out/out/..._deblurred_deblurred.tif


def test_same_names_in_two_subfolders_do_not_clash_with_recursive(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    for sub in ("day1", "day2"):
        (root / sub).mkdir(parents=True)
        tifffile.imwrite(root / sub / "cell.tif", _image((32, 32)))
    out.mkdir()
    assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER, "-q"]) == 0
    assert (out / "day1/cell_deblurred.tif").exists() and (out / "day2/cell_deblurred.tif").exists()


def _unwritable_folder():
    folder = Path("/sys")
    if not folder.is_dir() or os.access(folder, os.W_OK) and _can_create_in(folder):
        pytest.skip("no folder here refuses new files")
    return folder


def _can_create_in(folder):
    try:
        (folder / ".microdeblur-test-probe").touch()
    except OSError:
        return False
    (folder / ".microdeblur-test-probe").unlink()
    return True


def test_an_output_folder_that_cannot_be_written_is_refused_once(tmp_path, capsys):
    folder = _unwritable_folder()
    root = tmp_path / "in"
    root.mkdir()
    for i in range(3):
        tifffile.imwrite(root / f"{i}.tif", _image((32, 32)))
    assert main(["deblur", str(root), "-o", str(folder), *WIENER, "-q"]) == 2
    assert capsys.readouterr().err.count("cannot write") == 1


# --------------------------------------------------------------------------- words


def test_auto_modality_says_once_that_grayscale_ran_as_fluorescence(tmp_path, capsys):
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    for i in range(2):
        tifffile.imwrite(root / f"{i}.tif", _image((32, 32), seed=i))
    assert main(["deblur", str(root), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("--modality em") == 1 and "fluorescence" in text


def test_no_modality_line_where_the_modality_or_method_was_chosen(tmp_path, capsys):
    source = tmp_path / "em.tif"
    tifffile.imwrite(source, _image((32, 32)))
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--modality",
                 "fluorescence"]) == 0
    assert main(["deblur", str(source), "-o", str(tmp_path / "b.tif"), *WIENER]) == 0
    assert "--modality em" not in capsys.readouterr().out


def test_a_psf_aware_weights_file_without_psf_is_named_as_weights(tmp_path, capsys):
    weights = tmp_path / "tuned.safetensors"
    weights.write_bytes((WEIGHTS / "wiener_unet.psf_v1.safetensors").read_bytes())
    source = tmp_path / "em.tif"
    tifffile.imwrite(source, _image((32, 32)))
    assert main(["deblur", str(source), "-o", str(tmp_path / "a.tif"), "--weights",
                 str(weights)]) == 2
    err = capsys.readouterr().err
    assert "--weights 'tuned.safetensors' is PSF-aware" in err and "--method" not in err


def test_recursive_on_a_cluster_mirrors_the_subfolders(tmp_path):
    distributed = pytest.importorskip("distributed")
    root, out = _tree(tmp_path), tmp_path / "out"
    out.mkdir()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER, "-q",
                     "--scheduler", local.scheduler_address]) == 0
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.tif"))
    assert made == ["sub/a_deblurred.tif", "sub/deeper/b_deblurred.tif", "top_deblurred.tif"]


def test_recursive_follows_a_linked_subfolder_once(tmp_path):
    """os.walk does not follow links: a linked subfolder's images were left out silently; a
    link back up the tree is entered once (no loop)."""
    root, out = _tree(tmp_path), tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tifffile.imwrite(elsewhere / "linked.tif", _image((32, 32)))
    try:
        (root / "link").symlink_to(elsewhere, target_is_directory=True)
        (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    except OSError:
        pytest.skip("no symbolic links here")
    out.mkdir()
    assert main(["deblur", str(root), "-o", str(out), "--recursive", *WIENER, "-q"]) == 0
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.tif"))
    assert made == ["link/linked_deblurred.tif", "sub/a_deblurred.tif",
                    "sub/deeper/b_deblurred.tif", "top_deblurred.tif"]


def test_recursive_on_a_zarr_input_into_a_folder(tmp_path):
    """-r with a Zarr store (a folder) as input failed: "'z' is not in the subpath of ..."."""
    pytest.importorskip("zarr")
    from napari_microdeblur.core.io_write import open_output

    source = tmp_path / "vol.zarr"
    with open_output(source, (32, 32), np.uint8, axes="YX") as target:
        target[...] = _image((32, 32))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(source), "-o", str(out), "-r", *WIENER, "-q"]) == 0
    assert [p.name for p in out.iterdir()] == ["vol_deblurred.tif"]
