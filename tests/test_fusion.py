"""Folding BatchNorm into convolutions for inference: same output, the user's model untouched."""

import numpy as np
import torch

from napari_microdeblur.core.fusion import InferenceCopy, fold_batchnorm
from napari_microdeblur.core.method import NetworkRunner
from napari_microdeblur.core.registry import build_model


def _model_with_trained_statistics():
    torch.manual_seed(0)
    model = build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4,
                                     "global_skip": True})
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(torch.rand(2, 1, 32, 32) * 3 + 1)
    return model.eval()


def test_folded_copy_gives_the_same_output_and_leaves_the_model_alone():
    model = _model_with_trained_statistics()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded, n = fold_batchnorm(model)
    assert n > 0 and folded is not model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(1, 1, 48, 48)
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), atol=1e-5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_a_model_without_batchnorm_is_used_as_it_is():
    torch.manual_seed(0)
    model = build_model("gran", {"n_feats": 8, "n_resblocks": 1})
    assert fold_batchnorm(model) == (model, 0)


def test_the_copy_follows_changes_to_the_model():
    model = _model_with_trained_statistics()
    copy = InferenceCopy(model)
    first = copy.get()
    assert copy.get() is first  # unchanged model: cached
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # a training step, say
    second = copy.get()
    assert second is not first
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(second(x).numpy(), model(x).numpy(), atol=1e-5)


def test_network_runner_runs_the_folded_copy():
    model = _model_with_trained_statistics()
    runner = NetworkRunner(model, precision="float32")
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
    np.testing.assert_allclose(runner(x).numpy(), expected.numpy(), atol=1e-5)
