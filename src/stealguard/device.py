"""Which torch device a run uses: CUDA when present, else the CPU, or what the user names. Below the data and
training layers, so both can ask."""

from __future__ import annotations

import torch

from .errors import ConfigError


def pick_device(pref: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. Any torch device string is accepted."""
    if isinstance(pref, torch.device):
        return pref
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(pref)
    except RuntimeError as e:
        raise ConfigError(f"unknown device '{pref}': {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest convolutions
    return dev
