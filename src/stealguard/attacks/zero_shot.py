"""zero-shot (model-accessible, data-free): data-free adversarial distillation (Fang et al. 2019).

A generator synthesises queries that maximise the L1 disagreement between student and victim logits; the student
minimises it. No real image is read: the attack is handed no data at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..train import fit, pick_device
from .base import Attack, StealSettings, student


@dataclass
class ZeroShotSettings(StealSettings):
    epochs: int = 20
    batch_size: int = 128
    lr: float | None = 0.1
    iterations: int = 50  # generator updates per epoch
    student_steps: int = 5  # student updates per generator update
    nz: int = 100
    generator_lr: float = 1e-3
    generator_width: int = 64


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
        for it in range(self.s.iterations):
            self.gen.train()
            for _ in range(self.s.student_steps):
                with torch.no_grad():
                    x = self.gen(self._z())
                    t = self.victim.logits(x).detach()
                yield x, t
            # generator step: maximise disagreement (victim and student weights are not updated here)
            x = self.gen(self._z())
            was = self.student.training
            self.student.eval()
            loss = -F.l1_loss(self.student(x), self.victim.logits(x))
            self.student.train(was)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.student.zero_grad(set_to_none=True)
            self.victim.module.zero_grad(set_to_none=True)


class ZeroShot(Attack):
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
        fit(model, source, s.train_config(), loss=lambda out, t: F.l1_loss(out, t), desc="zero-shot")
        return model, {"synthetic_queries": victim.queries}
