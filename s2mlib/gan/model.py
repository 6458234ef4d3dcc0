"""The struc2mapGAN networks: a 3D U-Net++ generator and a convolutional discriminator (paper section 3.3), and
their resolution-conditioned variants (the paper's future work, section 5).

At the paper's width (``width=32``) the generator has 10,289,333 parameters and the discriminator 1,190,812,
as the original code (README, Facts about the original code). A smaller ``width`` shrinks every convolution for
CPU smoke runs.

``conditioned=True`` adds the target resolution R (A) as a condition, leaving the unconditioned networks exactly as
they are. Generator: FiLM (Perez et al. 2018) in every residual block, a per-channel scale and shift
``h -> h (1 + gamma(R)) + beta(R)`` after the block's second InstanceNorm, from a small MLP of the normalised
resolution (:func:`resolution_feature`) shared by all blocks and one zero-initialised linear head per block, so a
fresh conditioned generator computes exactly what an unconditioned one with the same weights does. Discriminator
(a conditional GAN, Mirza and Osindero 2014): R as a second, constant input channel.

Example:
    >>> import torch
    >>> g, d = Generator(width=4), Discriminator(width=4)
    >>> y = g(torch.zeros(2, 1, 32, 32, 32))
    >>> tuple(y.shape), tuple(d(y).shape)
    ((2, 1, 32, 32, 32), (2, 1))
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError

LEVELS = 4  # U-Net++ depth: nodes X(i, j) with i + j < 4, three 2x max-poolings
EMBEDDING = 32  # features of the resolution embedding that feeds every FiLM head
RESOLUTION_CENTRE, RESOLUTION_SCALE = 6.5, 3.5  # resolution_feature maps 3..10 A to -1..1


def resolution_feature(resolution: torch.Tensor) -> torch.Tensor:
    """(R - 6.5) / 3.5: the target resolution (A) as the networks see it, -1 at 3 A and 1 at 10 A; shape (B, 1)."""
    return ((resolution.float() - RESOLUTION_CENTRE) / RESOLUTION_SCALE).reshape(-1, 1)


def _conv(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=True)


class ResidualBlock(nn.Module):
    """``PReLU(IN(conv(PReLU(IN(conv(x))))) + s(x))`` with ``s`` = identity, or conv + IN when channels change.

    InstanceNorm3d has no affine parameters; each PReLU has one shared slope (README, Facts about the original code).
    """

    def __init__(self, cin: int, cout: int, conditioned: bool = False) -> None:
        super().__init__()
        self.conv1, self.norm1, self.act1 = _conv(cin, cout), nn.InstanceNorm3d(cout), nn.PReLU()
        self.conv2, self.norm2, self.act2 = _conv(cout, cout), nn.InstanceNorm3d(cout), nn.PReLU()
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(_conv(cin, cout), nn.InstanceNorm3d(cout))
        if conditioned:  # FiLM head: (gamma, beta) per channel, zero at initialisation (the identity)
            with _no_draws():
                self.film = nn.Linear(EMBEDDING, 2 * cout)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        out = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        if embedding is not None:
            gamma, beta = self.film(embedding)[:, :, None, None, None].chunk(2, dim=1)
            out = out * (1 + gamma) + beta
        return self.act2(out + self.shortcut(x))


class Generator(nn.Module):
    """U-Net++ (Zhou et al. 2018) without deep supervision; every node X(i, j) is a :class:`ResidualBlock`.

    Row ``i`` has ``width * 2**i`` channels. ``X(i, 0) = block(pool(X(i-1, 0)))`` (``X(0, 0) = block(x)``);
    ``X(i, j) = block(cat[X(i, 0), ..., X(i, j-1), up(X(i+1, j-1))])`` with ``up`` trilinear x2
    (align_corners=True); output = 1x1x1 conv of X(0, 3), no activation. Input edges must be multiples of 8.
    ``conditioned``: FiLM on the target resolution in every block (module docstring); ``forward(x, resolution)``.
    ``input_kind`` records the input the generator is trained on (:mod:`s2mlib.sim.inputs`; no parameters).
    """

    def __init__(
        self,
        width: int = 32,
        in_channels: int = 1,
        out_channels: int = 1,
        conditioned: bool = False,
        input_kind: str = "molmap",
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive channel count, got {width}")
        self.width, self.conditioned, self.input_kind = width, conditioned, input_kind
        ch = [width * 2**i for i in range(LEVELS)]
        self.nodes = nn.ModuleDict()
        for i in range(LEVELS):
            for j in range(LEVELS - i):
                cin = (in_channels if i == 0 else ch[i - 1]) if j == 0 else j * ch[i] + ch[i + 1]
                self.nodes[f"x{i}_{j}"] = ResidualBlock(cin, ch[i], conditioned)
        self.pool = nn.MaxPool3d(kernel_size=2, stride=2)
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)
        self.final = nn.Conv3d(ch[0], out_channels, kernel_size=1, bias=True)
        init_weights(self)
        if conditioned:  # PyTorch's default Linear initialisation, drawn without moving the global random state
            with _no_draws():
                self.embed = nn.Sequential(
                    nn.Linear(1, EMBEDDING), nn.SiLU(), nn.Linear(EMBEDDING, EMBEDDING), nn.SiLU()
                )

    def forward(self, x: torch.Tensor, resolution: torch.Tensor | None = None) -> torch.Tensor:
        step = 2 ** (LEVELS - 1)
        if x.ndim != 5 or any(n % step for n in x.shape[2:]):
            raise ValueError(
                f"generator input must be (B, C, D, H, W) with D, H, W multiples of {step}, got {tuple(x.shape)}"
            )
        embedding = _condition(self.conditioned, resolution, len(x), "generator")
        if embedding is not None:
            embedding = self.embed(embedding)
        row: list[list[torch.Tensor]] = [[] for _ in range(LEVELS)]
        for i in range(LEVELS):
            row[i].append(self.nodes[f"x{i}_0"](self.pool(row[i - 1][0]) if i else x, embedding))
        for j in range(1, LEVELS):
            for i in range(LEVELS - j):
                row[i].append(
                    self.nodes[f"x{i}_{j}"](torch.cat([*row[i], self.up(row[i + 1][j - 1])], dim=1), embedding)
                )
        return self.final(row[0][-1])


class Discriminator(nn.Module):
    """conv(1->w), conv(w->2w), conv(2w->4w) each + InstanceNorm + PReLU, conv(4w->8w); global average pool;
    Linear(8w, 100) -> ReLU -> Linear(100, 25) -> ReLU -> Linear(25, 1), a logit per sample.

    One PReLU (a single slope) is shared by the three activations, as in the original code: this is what makes
    1,190,812 parameters at ``width=32``. ``conditioned``: :func:`resolution_feature` of R as a second input
    channel; ``forward(x, resolution)``.
    """

    def __init__(self, width: int = 32, in_channels: int = 1, conditioned: bool = False) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive channel count, got {width}")
        self.width, self.conditioned = width, conditioned
        ch = [in_channels + int(conditioned)] + [width * 2**i for i in range(4)]
        self.convs = nn.ModuleList(_conv(a, b) for a, b in zip(ch[:-1], ch[1:]))
        self.norms = nn.ModuleList(nn.InstanceNorm3d(c) for c in ch[1:4])
        self.act = nn.PReLU()
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
            nn.Linear(ch[4], 100),
            nn.ReLU(),
            nn.Linear(100, 25),
            nn.ReLU(),
            nn.Linear(25, 1),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor, resolution: torch.Tensor | None = None) -> torch.Tensor:
        feature = _condition(self.conditioned, resolution, len(x), "discriminator")
        if feature is not None:
            x = torch.cat([x, feature[:, :, None, None, None].expand(-1, 1, *x.shape[2:]).to(x.dtype)], dim=1)
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(norm(conv(x)))
        return self.head(self.convs[-1](x))


def _no_draws():
    """Build modules without advancing the global random state, so that a conditioned network draws the same
    convolution weights as an unconditioned one from the same seed (the FiLM heads are zeroed anyway)."""
    return torch.random.fork_rng(devices=[])


def _condition(conditioned: bool, resolution: torch.Tensor | None, batch: int, what: str) -> torch.Tensor | None:
    """The (B, 1) resolution feature of a conditioned network's batch; checks that R is given exactly when needed."""
    if not conditioned:
        if resolution is not None:
            raise ValueError(f"this {what} is not resolution-conditioned: call it without a resolution")
        return None
    if resolution is None:
        raise ValueError(f"this {what} is resolution-conditioned: call it with the target resolution (A)")
    resolution = torch.as_tensor(resolution).reshape(-1)
    if resolution.numel() == 1:
        resolution = resolution.expand(batch)
    if resolution.numel() != batch:
        raise ValueError(f"{what}: {resolution.numel()} resolutions for a batch of {batch}")
    return resolution_feature(resolution)


def init_weights(module: nn.Module) -> None:
    """Convolution weights ~ N(0, 0.01), biases 0 (the original's ``weights_init_normal``); Linear keeps its default."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def place(obj, device: str | torch.device, channels_last: bool = False):
    """Move a module or a 5D tensor to ``device``, in channels-last-3D memory order when asked."""
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    return obj.to(device=device, memory_format=fmt)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> CUDA when present, else CPU; 'cpu', 'cuda' or 'cuda:N' as given. ValueError (one line) for any
    other device (torch knows 'mps', 'meta', ..., which these networks are not run or tested on) and for CUDA where
    there is none."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r} ({exc})") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r} is not supported: choose auto, cpu or cuda (cuda:N)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for but CUDA is not available")
    return dev
