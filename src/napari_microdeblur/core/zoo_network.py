"""The network a BioImage Model Zoo package runs: any spatial size in, the same size out.

bioimageio.core's whole-image ``predict`` hands the image to the network as it is (it pads
only the declared halo, never up to the declared size step), so a 130 x 133 image failed in
torch ("Expected size 48 but got size 49"). :class:`PaddedNetwork` pads the end of each
spatial axis by mirroring (numpy's 'symmetric', as the plugin's tiler pads) up to the network's
size divisor and smallest size, and crops the output back. It is TorchScript-scriptable, so
the package's ``torchscript`` weights (this module around the traced network) do the same.
"""

# no "from __future__ import annotations": TorchScript reads the annotations below
from typing import Any

import torch

__all__ = ["PaddedNetwork", "pad_end"]


def pad_end(x: torch.Tensor, dim: int, extra: int) -> torch.Tensor:
    """``x`` mirrored at the end of ``dim`` by ``extra`` (repeatedly where ``extra`` is larger
    than the axis: numpy's 'symmetric')."""
    while extra > 0:
        n = x.shape[dim]
        take = min(extra, n)
        x = torch.cat([x, torch.flip(x.narrow(dim, n - take, take), [dim])], dim)
        extra -= take
    return x


class PaddedNetwork(torch.nn.Module):
    """``net`` (or the ``arch`` network built with ``config``) on inputs of any spatial size.

    The package's ``pytorch_state_dict`` weights name this class with ``arch`` and ``config``
    (the state dict's keys start with ``net.``); ``min_size`` is the smallest side the network
    and its TorchScript trace run on alike (export.py probes it).
    """

    size_divisor: int
    min_size: int

    def __init__(self, arch: str = "", config: dict[str, Any] | None = None, *,
                 min_size: int = 1, net: torch.nn.Module | None = None,
                 size_divisor: int | None = None):
        super().__init__()
        if net is None:
            from napari_microdeblur.core import registry

            net = registry.build_model(arch, config)
        self.net = net
        self.size_divisor = int(size_divisor or getattr(net, "size_divisor", 1))
        self.min_size = int(min_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.size_divisor
        sizes: list[int] = []
        for i in range(2, x.dim()):
            n = x.shape[i]
            sizes.append(n)
            target = max(n, self.min_size)
            target = (target + d - 1) // d * d
            x = pad_end(x, i, target - n)
        y = self.net(x)
        for i in range(len(sizes)):
            y = y.narrow(i + 2, 0, sizes[i])
        return y
