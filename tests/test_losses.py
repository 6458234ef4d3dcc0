"""Tests of s2mlib.gan.losses: the paper's losses (eqs. 3-6) against the hand formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2mlib.gan.losses import discriminator_loss, generator_loss


def test_losses_match_hand_formulas():
    fake = torch.tensor([0.2, 1.0, -2.5, 0.7]).reshape(1, 1, 1, 2, 2)
    target = torch.tensor([0.0, 0.4, 0.5, 0.7]).reshape(1, 1, 1, 2, 2)
    diff = [0.2, 0.6, 3.0, 0.0]
    smooth = np.mean([0.5 * d * d if d < 1 else d - 0.5 for d in diff])  # paper eq. 3
    logit_fake, logit_real = torch.tensor([[0.3]]), torch.tensor([[-1.2]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    adv = -math.log(sig(0.3))  # eq. 4
    total, l1, a = generator_loss(logit_fake, fake, target, alpha=0.01)
    assert l1.item() == pytest.approx(smooth) and a.item() == pytest.approx(adv)
    assert total.item() == pytest.approx(smooth + 0.01 * adv)  # eq. 5
    assert generator_loss(logit_fake, fake, target, alpha=0.01, l1=False)[0].item() == pytest.approx(0.01 * adv)
    d = discriminator_loss(logit_real, logit_fake).item()
    assert d == pytest.approx(0.5 * (-math.log(sig(-1.2)) - math.log(1 - sig(0.3))))  # eq. 6 / 2
