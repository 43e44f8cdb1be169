"""A small DCGAN (Radford et al. 2016) for images of any square size divisible by 4 (28, 32, 64, ...).

Used by the near-boundary method to turn a few hundred seed images into a generator of the owner's private
samples. Generator: a linear layer to ``(4 * base, s/4, s/4)``, then two stride-2 transposed convolutions with
BatchNorm and ReLU, a sigmoid output in [0, 1]. Discriminator: two stride-2 convolutions with LeakyReLU, a linear
logit. Trained with the standard non-saturating BCE losses and Adam (lr 2e-4, beta1 0.5).
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import to_tensor, to_uint8
from .errors import ConfigError


class Generator(nn.Module):
    """The DCGAN generator of near-boundary privatisation: a latent vector to a ``size`` x ``size`` image in [0,
    1]."""
    def __init__(self, size: int, channels: int, latent: int = 64, base: int = 32):
        super().__init__()
        if size % 4:
            raise ConfigError(f"the DCGAN needs an image size divisible by 4, got {size}")
        self.size, self.channels, self.latent, self.base = size, channels, latent, base
        s = size // 4
        self.fc = nn.Sequential(nn.Linear(latent, 4 * base * s * s), nn.BatchNorm1d(4 * base * s * s), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(4 * base, 2 * base, 4, 2, 1), nn.BatchNorm2d(2 * base), nn.ReLU(),
            nn.ConvTranspose2d(2 * base, channels, 4, 2, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = self.size // 4
        return self.net(self.fc(z).view(len(z), 4 * self.base, s, s))

    def config(self) -> dict:
        """The constructor arguments (stored in a kit to rebuild the generator)."""
        return {"size": self.size, "channels": self.channels, "latent": self.latent, "base": self.base}


class Discriminator(nn.Module):
    """The DCGAN discriminator: an image to one real/fake logit."""
    def __init__(self, size: int, channels: int, base: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(base, 2 * base, 4, 2, 1), nn.BatchNorm2d(2 * base), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * base * (size // 4) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def train_dcgan(images: np.ndarray, steps: int, seed: int = 0, batch_size: int = 64, latent: int = 64, base: int = 32,
                device: str | torch.device = "cpu") -> Generator:
    """Train a DCGAN on uint8 images (N, H, W, C) for ``steps`` generator updates; returns the generator (eval mode,
    on the CPU). Deterministic for a seed on one device."""
    if len(images) < 2:
        raise ConfigError(f"the DCGAN needs at least 2 training images, got {len(images)}")
    if steps < 1:
        raise ConfigError(f"gan steps must be >= 1, got {steps}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    size, channels = images.shape[1], images.shape[3]
    g, d = Generator(size, channels, latent, base).to(device), Discriminator(size, channels, base).to(device)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_all = to_tensor(images, device)
    bs = min(batch_size, len(images))
    ones, zeros = torch.ones(bs, device=device), torch.zeros(bs, device=device)
    g.train(), d.train()
    for _ in range(steps):
        real = real_all[torch.randint(len(real_all), (bs,), generator=gen).to(device)]
        fake = g(torch.randn(bs, latent, generator=gen).to(device))
        ld = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
        od.zero_grad()
        ld.backward()
        od.step()
        lg = F.binary_cross_entropy_with_logits(d(fake), ones)
        og.zero_grad()
        lg.backward()
        og.step()
    return g.cpu().eval()


@torch.no_grad()
def sample(g: Generator, n: int, seed: int) -> np.ndarray:
    """``n`` generated images as uint8 (N, H, W, C) (quantised like any stored image)."""
    z = torch.randn(n, g.latent, generator=torch.Generator().manual_seed(seed))  # drawn on the CPU: same for a seed on any device
    return to_uint8(g.eval()(z.to(next(g.parameters()).device)))


def save_generator(g: Generator, path) -> None:
    """Write the generator's weights as safetensors with its config in the metadata (``stealguard``)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in g.state_dict().items()}, str(path),
              {"stealguard": json.dumps(g.config(), sort_keys=True)})


def load_generator(path) -> Generator:
    """A generator written by :func:`save_generator`, in eval mode."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        g = Generator(**json.loads(f.metadata()["stealguard"]))
        g.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
    return g.eval()
