from pathlib import Path

import numpy as np
import pytest
import torch

# Tests use tiny tensors: one thread avoids thread start-up and contention costs that make
# small convolutions ~100x slower on a busy 2-core machine.
torch.set_num_threads(1)

DATA = Path(__file__).parent / "data"


def load(name: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(DATA / name)


@pytest.fixture(scope="session")
def fluo_u8() -> np.ndarray:
    """128 x 128 uint8 HT29 nuclei (CC-0), see tests/data/README.md."""
    return load("fluo_ht29_dna_u8.tif")


@pytest.fixture(scope="session")
def fluo_u16() -> np.ndarray:
    """96 x 96 uint16 DSB2018 nuclei (CC0)."""
    return load("fluo_dsb2018_nuclei_u16.tif")


@pytest.fixture(scope="session")
def he_rgb() -> np.ndarray:
    """96 x 96 x 3 uint8 H&E tile (CC BY 4.0)."""
    return load("he_kather_tumor_rgb_u8.tif")


@pytest.fixture(scope="session")
def focus_stack() -> np.ndarray:
    """14 x 96 x 96 uint16 light-sheet focus stack (MIT), in focus at plane 7."""
    return load("lightsheet_mito_focus_stack_u16.tif")
