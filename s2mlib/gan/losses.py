"""The GAN's losses (paper eqs. 3-6; README, Facts about the original code), with ``G(x)`` the generated cube, ``y``
the target cube and ``D`` returning logits:

    loss_G = SmoothL1(G(x), y) + alpha * BCEWithLogits(D(G(x)), 1)          (alpha = 0.01)
    loss_D = 0.5 * [BCEWithLogits(D(y), 1) + BCEWithLogits(D(G(x).detach()), 0)]

Both in float32 whatever the arithmetic of the networks (bf16 autocast computes the logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def generator_loss(
    fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, alpha: float, l1: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss_G, smooth_l1, adversarial)`` with ``loss_G = [l1] SmoothL1(fake, target) + alpha * BCE(D(fake), 1)``."""
    smooth = F.smooth_l1_loss(fake.float(), target.float())
    adversarial = F.binary_cross_entropy_with_logits(
        fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32)
    )
    return (smooth if l1 else 0.0) + alpha * adversarial, smooth, adversarial


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``0.5 * [BCE(D(y), 1) + BCE(D(G(x)), 0)]`` on logits."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return 0.5 * (real + fake)
