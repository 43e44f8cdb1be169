"""Adversarial-example generators shared by attacks and methods (written once, used everywhere).

All work on float images in [0, 1] (NCHW) and a differentiable ``model`` returning logits. They compute on the
model's device and return the examples on the device the images came from.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _on_model(model: nn.Module, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """``tensors`` moved (detached) to the device of ``model``'s parameters (as they are for a parameterless model)."""
    p = next(model.parameters(), None)
    return [t.detach() if p is None else t.detach().to(p.device) for t in tensors]


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, targeted: bool = False) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (towards ``y`` if ``targeted``, else away from it)."""
    return pgd(model, x, y, eps=eps, step=eps, steps=1, random_start=False, targeted=targeted)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int,
        random_start: bool = True, targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """L-infinity projected gradient descent (Madry et al.): ``steps`` signed steps of ``step`` within ``eps``.

    The model's train/eval mode is left as it is and its parameter gradients are not touched.
    """
    home = x.device
    x, y = _on_model(model, x, y)
    if random_start:
        noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
        adv = (x + eps * noise).clamp(0, 1)
    else:
        adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        direction = -grad.sign() if targeted else grad.sign()
        adv = adv.detach() + step * direction
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach().to(home)


def bim(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10, targeted: bool = False) -> torch.Tensor:
    """Basic iterative method / I-FGSM (Kurakin et al.): ``steps`` signed steps of ``eps / steps`` within ``eps``."""
    return pgd(model, x, y, eps=eps, step=eps / steps, steps=steps, random_start=False, targeted=targeted)


def rfgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
          targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """R+FGSM (Tramer et al. 2018): a random signed step of ``alpha`` (default eps / 2), then one FGSM step of
    ``eps - alpha``."""
    alpha = eps / 2 if alpha is None else alpha
    if not 0 <= alpha < eps:
        raise ValueError(f"alpha must be in [0, eps), got {alpha}")
    noise = torch.randn(x.shape, generator=generator).to(x.device).sign()
    start = (x.detach() + alpha * noise).clamp(0, 1)
    return fgsm(model, start, y, eps - alpha, targeted=targeted)


def cw_l2(model: nn.Module, x: torch.Tensor, target: torch.Tensor, c: float = 1.0, kappa: float = 0.0, steps: int = 100,
          lr: float = 0.01, binary_steps: int = 5) -> torch.Tensor:
    """Targeted Carlini-Wagner L2 attack: minimise ``|delta|^2 + c * max(max_{i != t} Z_i - Z_t, -kappa)`` over
    ``x + delta = (tanh(w) + 1) / 2`` with Adam, binary-searching ``c`` per image. Returns the smallest successful
    perturbation found per image (the input itself where none succeeded). Mode and parameter gradients of
    ``model`` are left as they are."""
    home = x.device
    x, target = _on_model(model, x, target)
    n = len(x)
    lo = torch.zeros(n, device=x.device)
    hi = torch.full((n,), 1e10, device=x.device)
    cc = torch.full((n,), float(c), device=x.device)
    best = x.clone()
    best_l2 = torch.full((n,), float("inf"), device=x.device)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    with torch.no_grad():
        onehot = F.one_hot(target, int(model(x[:1]).shape[1])).bool()
    for _ in range(max(1, binary_steps)):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        success = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(steps):
            adv = (torch.tanh(w) + 1) / 2
            z = model(adv)
            zt = z[onehot]
            zo = z.masked_fill(onehot, float("-inf")).max(1).values
            l2 = (adv - x).flatten(1).pow(2).sum(1)
            loss = (l2 + cc * (zo - zt).clamp(min=-kappa)).sum()
            opt.zero_grad()
            (gw,) = torch.autograd.grad(loss, w)
            w.grad = gw
            opt.step()
            with torch.no_grad():
                ok = (zt - zo) >= kappa
                better = ok & (l2 < best_l2)
                best[better] = adv.detach()[better]
                best_l2[better] = l2[better]
                success |= ok
        with torch.no_grad():  # binary search on c: smaller where it worked, larger where it did not
            hi = torch.where(success, torch.minimum(hi, cc), hi)
            lo = torch.where(success, lo, torch.maximum(lo, cc))
            cc = torch.where(hi < 1e9, (lo + hi) / 2, cc * 10)
    return best.detach().to(home)


def boundary_points(model: nn.Module, x: torch.Tensor, first: torch.Tensor, second: torch.Tensor, k: float = 1.0,
                    steps: int = 100, lr: float = 0.01) -> torch.Tensor:
    """IPGuard's fingerprinting points (Cao et al. 2021): from ``x``, minimise with Adam, in pixel space clipped to
    [0, 1], ``relu(Z_i - Z_j + k) + relu(max_{t not in {i, j}} Z_t - Z_i)`` with ``i = first`` and ``j = second``
    per image: the result is classified ``j`` with ``i`` the runner-up, ``k`` logits behind — close to the (i, j)
    boundary for a small ``k``. Stops early once every loss is zero. Mode and parameter gradients of ``model`` are
    left as they are."""
    home = x.device
    x, first, second = _on_model(model, x, first, second)
    adv = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([adv], lr=lr)
    with torch.no_grad():
        k_classes = int(model(x[:1]).shape[1])
    oi = F.one_hot(first, k_classes).bool()
    oj = F.one_hot(second, k_classes).bool()
    for _ in range(steps):
        z = model(adv)
        zi, zj = z[oi], z[oj]
        zo = z.masked_fill(oi | oj, float("-inf")).max(1).values
        loss = F.relu(zi - zj + k) + F.relu(zo - zi)
        if not (loss > 0).any():
            break
        opt.zero_grad()
        (g,) = torch.autograd.grad(loss.sum(), adv)
        adv.grad = g
        opt.step()
        with torch.no_grad():
            adv.clamp_(0, 1)
    return adv.detach().to(home)


def conferrability(surrogate_probs: list[torch.Tensor], reference_probs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """CAE's conferrability score of inputs whose source label is ``target`` (Lukas et al. 2021): the surrogates'
    mean probability of ``target`` times one minus the highest reference probability of it — high where models
    derived from the source share its label and independently trained ones do not. ``*_probs``: softmax outputs."""
    idx = target[:, None]
    sur = torch.stack([p.gather(1, idx)[:, 0] for p in surrogate_probs]).mean(0)
    ref = torch.stack([p.gather(1, idx)[:, 0] for p in reference_probs]).max(0).values
    return sur * (1 - ref)


def conferrable_examples(source: nn.Module, surrogates: list[nn.Module], references: list[nn.Module], x: torch.Tensor,
                         eps: float, steps: int = 100, lr: float = 0.01, flip_cap: float = 4.0) -> torch.Tensor:
    """CAE's conferrable adversarial examples (Lukas et al., ICLR 2021): from ``x``, Adam steps on a perturbation
    within ``eps`` (L-infinity, pixels clipped to [0, 1]) that minimise ``-log(conferrability) - min(CE(source(x'),
    y0), flip_cap) + CE(mean surrogate output, t)``, where ``y0`` is the source's label on ``x`` and ``t`` its current
    label on ``x'``: the source's label moves away from ``y0`` and the new label is shared by the surrogates but not
    by the references. Returns ``x'`` (score it with :func:`conferrability` on what is kept, e.g. after rounding to
    uint8). Modes and parameter gradients are left as they are."""
    x = x.detach()
    with torch.no_grad():
        y0 = source(x).argmax(1)
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)

    for _ in range(steps):
        adv = (x + delta).clamp(0, 1)
        zs = source(adv)
        t = zs.argmax(1).detach()
        ps = [F.softmax(m(adv), 1) for m in surrogates]
        conf = conferrability(ps, [F.softmax(m(adv), 1) for m in references], t)
        loss = (-torch.log(conf + 1e-8) - F.cross_entropy(zs, y0, reduction="none").clamp(max=flip_cap)
                + F.nll_loss(torch.log(torch.stack(ps).mean(0) + 1e-8), t, reduction="none"))
        opt.zero_grad()
        (g,) = torch.autograd.grad(loss.sum(), delta)
        delta.grad = g
        opt.step()
        with torch.no_grad():
            delta.clamp_(-eps, eps)
    return (x + delta).detach().clamp(0, 1)


NORMS = ("linf", "l2", "l1")


def _lp(d: torch.Tensor, norm: str) -> torch.Tensor:
    d = d.flatten(1)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1) if norm == "l2" else d.abs().sum(1)


def min_gd_distances(model: nn.Module, x: torch.Tensor, norm: str, step: float, steps: int, top: int = 20) -> torch.Tensor:
    """Dataset inference's MinGD embedding (Maini et al. 2021), white-box: for every image and every class t, the
    ``norm`` length of the perturbation that first makes ``model`` answer t, found by gradient steps on log p_t —
    signed steps of ``step`` (linf), normalised steps of length ``step`` (l2), or ``step`` of L1 mass spread over
    the ``top`` largest gradient coordinates (l1); images are clipped to [0, 1]. Returns (N, K) distances; 0 for
    the class already answered, the length reached after ``steps`` where t was never answered."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    x = x.detach()
    n = len(x)
    with torch.no_grad():
        k = int(model(x[:1]).shape[1])
    xs = x.repeat_interleave(k, 0)  # image i, class t at row i * k + t
    t = torch.arange(k, device=x.device).repeat(n)
    adv = xs.clone()
    dist = torch.full((n * k,), float("nan"), device=x.device)
    for _ in range(steps + 1):
        adv.requires_grad_(True)
        logp = torch.log_softmax(model(adv), 1)
        with torch.no_grad():
            hit = (logp.argmax(1) == t) & dist.isnan()
            dist[hit] = _lp(adv.detach() - xs, norm)[hit]
        if not dist.isnan().any():
            break
        (g,) = torch.autograd.grad(logp.gather(1, t[:, None]).sum(), adv)
        with torch.no_grad():
            if norm == "linf":
                move = step * g.sign()
            elif norm == "l2":
                move = step * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (g.dim() - 1))
            else:
                flat = g.flatten(1)
                idx = flat.abs().topk(min(top, flat.shape[1]), 1).indices
                m = torch.zeros_like(flat).scatter_(1, idx, (step / idx.shape[1]) * flat.gather(1, idx).sign())
                move = m.view_as(g)
            adv = (adv.detach() + move).clamp(0, 1)
    with torch.no_grad():
        left = dist.isnan()
        dist[left] = _lp(adv - xs, norm)[left]
    return dist.view(n, k)


def blind_walk_distances(predict_labels, x: torch.Tensor, norm: str, step: float, steps: int, walks: int,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Dataset inference's blind-walk embedding, labels only: from every image, ``walks`` random directions
    (uniform signs for linf, Gaussian for l2, Laplace for l1, scaled to unit ``norm``) walked in steps of ``step``
    until ``predict_labels`` (a function of a float NCHW batch) changes its answer; the walked ``norm`` length per
    direction (the length after ``steps`` where it never changed), sorted ascending: (N, walks)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    x = x.detach()
    n = len(x)
    base = torch.as_tensor(np.asarray(predict_labels(x)), device=x.device)
    shape = (n * walks, *x.shape[1:])
    if norm == "linf":
        u = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
    elif norm == "l2":
        u = torch.randn(shape, generator=generator)
    else:
        u = torch.distributions.Laplace(0.0, 1.0).sample(shape) if generator is None else \
            -torch.log(torch.rand(shape, generator=generator).clamp_min(torch.finfo(torch.float32).tiny)) \
            * (torch.randint(0, 2, shape, generator=generator) * 2 - 1)  # rand can return 0: log(0) made NaN walks
    u = (u / _lp(u, norm).view(-1, *[1] * (u.dim() - 1))).to(x.device)
    xs, y0 = x.repeat_interleave(walks, 0), base.repeat_interleave(walks)
    dist = torch.full((n * walks,), float("nan"), device=x.device)
    for i in range(1, steps + 1):
        live = dist.isnan().nonzero().flatten()
        if len(live) == 0:
            break
        cand = (xs[live] + i * step * u[live]).clamp(0, 1)
        changed = torch.as_tensor(np.asarray(predict_labels(cand)), device=x.device) != y0[live]
        dist[live[changed]] = _lp(cand[changed] - xs[live[changed]], norm)
    left = dist.isnan()
    dist[left] = _lp((xs[left] + steps * step * u[left]).clamp(0, 1) - xs[left], norm)
    return dist.view(n, walks).sort(1).values
