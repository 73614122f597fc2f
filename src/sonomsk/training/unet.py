"""A compact 2-D U-Net (torch) for nerve and vessel segmentation."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CompactUNet(nn.Module):
    """U-Net with ``len(widths)`` levels, bilinear up-sampling and concatenated skips.

    Input (batch, 1, H, W) with H, W divisible by 2**(levels-1); output logits
    (batch, n_classes, H, W).
    """

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64, 128), n_classes: int = 3) -> None:
        super().__init__()
        self.widths = widths
        self.down = nn.ModuleList()
        cin = 1
        for w in widths:
            self.down.append(_block(cin, w))
            cin = w
        self.up = nn.ModuleList()
        for w_skip in reversed(widths[:-1]):
            self.up.append(_block(cin + w_skip, w_skip))
            cin = w_skip
        self.head = nn.Conv2d(cin, n_classes, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> Any:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def seed_torch(seed: int, threads: int) -> None:
    """Fixed seed, thread count and deterministic kernels: a training run repeats exactly."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
