"""Ownership methods: one module each, found by name through :data:`REGISTRY`.

Each method protects (``protect``) and verifies (``verify(kit, access) -> Verdict``); :func:`verify_suspect` opens
a kit, picks its method and runs it.
"""

from __future__ import annotations

from ..access import Access
from ..errors import ConfigError
from ..kit import Kit, load_kit
from ..stats import check_alpha
from ..verdict import Verdict
from .badnets import BadNets, BadNetsSettings
from .base import Method, ProtectResult, settings_from
from .cae import Cae, CaeSettings
from .dataset_inference import DatasetInference, DatasetInferenceSettings
from .ewe import Ewe, EweSettings
from .feature_sharing import FeatureSharing, FeatureSharingSettings
from .ipguard import IpGuard, IpGuardSettings
from .move import Move, MoveSettings
from .near_boundary import NearBoundary, NearBoundarySettings
from .sac import Sac, SacSettings

REGISTRY: dict[str, type[Method]] = {m.name: m for m in (Move, Sac, FeatureSharing, Ewe, BadNets, NearBoundary, IpGuard, Cae, DatasetInference)}


def get_method(name: str) -> Method:
    """An instance of the method called ``name``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown method '{name}': choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]()


def verify_suspect(kit: Kit | str, suspect: Access, **options) -> Verdict:
    """Verify ``suspect`` with whichever method made ``kit`` (a :class:`Kit` or a kit folder). ``suspect_id`` (the
    suspect file's SHA-256 or the API's URL) is recorded in the verdict whichever method verifies."""
    kit = kit if isinstance(kit, Kit) else load_kit(kit)
    method = get_method(kit.method)
    if kit.method_version != method.version and kit.method_version not in method.kit_versions:
        readable = ", ".join(str(v) for v in sorted({method.version, *method.kit_versions}))
        raise ConfigError(f"kit made by {kit.method} version {kit.method_version}; this stealguard verifies version {readable}")
    accepted = method.verify_options()
    if "alpha" in accepted:
        check_alpha(options.get("alpha"))
    # options a method does not use (e.g. MOVE's m for SAC) are left out; unset ones (None) too
    verdict = method.verify(kit, suspect, **{k: v for k, v in options.items() if k in accepted and v is not None})
    if options.get("suspect_id") is not None and verdict.suspect is None:
        verdict.suspect = options["suspect_id"]
    remote = suspect.describe().get("remote")
    if remote is not None:  # a remote suspect: the verdict cites the URL, the audit log and its hash, what was sent
        verdict.details["remote"] = remote
    return verdict


__all__ = ["REGISTRY", "BadNets", "BadNetsSettings", "Cae", "CaeSettings", "DatasetInference", "DatasetInferenceSettings", "Ewe", "EweSettings", "FeatureSharing", "FeatureSharingSettings", "IpGuard", "IpGuardSettings", "Method", "ProtectResult", "Move", "MoveSettings", "NearBoundary", "NearBoundarySettings", "Sac", "SacSettings", "check_alpha", "get_method", "verify_suspect", "settings_from"]
