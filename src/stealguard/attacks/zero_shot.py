"""zero-shot (model-accessible, data-free): data-free adversarial distillation (Fang et al. 2019).

A generator synthesises queries that maximise the disagreement between student and victim; the student minimises
it. No real image is read: the attack is handed no data at all.

``loss="l1", balance=0`` is DFAD as published (L1 distance between logits). The default adds two measured changes
that make the copy far better at a small query budget (benchmarks/attacks.md: Fashion-MNIST fidelity 0.67 -> 0.83
with 76,800 synthetic queries): the disagreement is the KL divergence between the victim's and the student's
softmax, and the generator is also rewarded for a class-balanced batch (the entropy of the victim's mean prediction,
the information-entropy term of DAFL, Chen et al. 2019), which stops it from spending its queries on two or three
classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..train import fit, pick_device
from ..errors import ConfigError, require_at_least_one
from .base import Attack, StealSettings, check_choice, student


@dataclass
class ZeroShotSettings(StealSettings):
    """Settings of ``steal zero-shot``: generator updates per epoch, student steps per update, latent size, generator
    learning rate and width, the disagreement ``loss`` and the class-balance reward's weight."""
    epochs: int = 20
    batch_size: int = 128
    lr: float | None = 0.1
    iterations: int = 50  # generator updates per epoch
    student_steps: int = 5  # student updates per generator update
    nz: int = 100
    generator_lr: float = 1e-3
    generator_width: int = 64
    loss: str = "kl"  # disagreement: "kl" (softmax KL) or "l1" (logits, DFAD as published)
    balance: float = 1.0  # weight of the generator's class-balance reward (0: DFAD as published)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("loss", self.loss, ("kl", "l1"))
        if not self.balance >= 0:
            raise ConfigError(f"balance must be >= 0, got {self.balance}")
        require_at_least_one(self, "iterations", "student_steps", "nz", "generator_width")


def disagreement(kind: str, student_logits: torch.Tensor, victim_logits: torch.Tensor) -> torch.Tensor:
    """How far the student is from the victim on a batch: mean L1 between logits, or KL(victim || student)."""
    if kind == "l1":
        return F.l1_loss(student_logits, victim_logits)
    return F.kl_div(F.log_softmax(student_logits, 1), F.log_softmax(victim_logits, 1), reduction="batchmean",
                    log_target=True)


class Generator(nn.Module):
    """DCGAN-style generator: z -> image in [0, 1] of the victim's input shape."""

    def __init__(self, nz: int, shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        c, h, w = shape
        self.h0, self.w0 = (h + 3) // 4, (w + 3) // 4
        self.shape = shape
        self.fc = nn.Linear(nz, 2 * width * self.h0 * self.w0)
        self.width = width
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, c, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z):
        x = self.body(self.fc(z).view(len(z), 2 * self.width, self.h0, self.w0))
        x = x[:, :, : self.shape[1], : self.shape[2]]
        return (x + 1) / 2


class AdversarialQueries:
    """Batch source for :func:`stealguard.train.fit`: yields generated images with the victim's logits as targets,
    and after every ``student_steps`` batches takes one generator step that maximises student/victim disagreement."""

    def __init__(self, victim, student_model, s: ZeroShotSettings, shape):
        self.victim, self.student, self.s = victim, student_model, s
        self.device = pick_device(s.device)
        torch.manual_seed(s.seed)
        self.gen = Generator(s.nz, shape, s.generator_width).to(self.device)
        self.opt = torch.optim.Adam(self.gen.parameters(), lr=s.generator_lr)
        self.batches_per_epoch = s.iterations * s.student_steps

    def _z(self):
        return torch.randn(self.s.batch_size, self.s.nz, device=self.device)

    def epoch(self, index):
        """Batches of generated images with the victim's logits on them; the generator is updated between batches to
        seek disagreement."""
        for it in range(self.s.iterations):
            self.gen.train()
            for _ in range(self.s.student_steps):
                with torch.no_grad():
                    x = self.gen(self._z())
                    t = self.victim.logits(x).detach().to(self.device)
                yield x, t
            # generator step: maximise disagreement (victim and student weights are not updated here), plus a
            # reward for batches the victim spreads over every class (negative entropy of its mean prediction)
            x = self.gen(self._z())
            was = self.student.training
            self.student.eval()
            v = self.victim.logits(x).to(self.device)  # the victim may sit on another device (autograd follows)
            loss = -disagreement(self.s.loss, self.student(x), v)
            if self.s.balance:
                mean = F.softmax(v, 1).mean(0)
                loss = loss + self.s.balance * (mean * mean.clamp_min(1e-8).log()).sum()
            self.student.train(was)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.student.zero_grad(set_to_none=True)
            self.victim.module.zero_grad(set_to_none=True)


class ZeroShot(Attack):
    """Data-free adversarial distillation (DFAD): a generator searches for disagreement, the student removes it."""
    name = "zero-shot"
    summary = "data-free adversarial distillation: a generator searches for disagreement, the student removes it"
    access = "model"
    data = "none"
    Settings = ZeroShotSettings

    def steal(self, victim, data, s):
        model = student(data, s)
        for p in victim.module.parameters():
            p.requires_grad_(False)
        victim.module.eval()
        source = AdversarialQueries(victim, model, s, data.input_shape)
        fit(model, source, s.train_config(), loss=lambda out, t: disagreement(s.loss, out, t), desc="zero-shot")
        return model, {"synthetic_queries": victim.queries}
