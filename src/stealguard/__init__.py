"""stealguard: prove that a suspect classifier was stolen from yours.

The library is organised as a one-way flow::

    data -> train -> victim -> (protect) -> kit
                       \\-> (steal: attacks) -> suspect -> verify(kit, access) -> Verdict

Public entry points live in the sub-modules: :mod:`stealguard.data`, :mod:`stealguard.models`,
:mod:`stealguard.train`, :mod:`stealguard.access`, :mod:`stealguard.cache` and :mod:`stealguard.attacks`.
"""

import os

# OpenMP threads that spin while waiting halve torch's speed when two threads share two busy cores; sleeping waits
# do not (set before torch is first imported; a value the user set is kept)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .errors import StealguardError  # noqa: E402

__all__ = ["StealguardError", "__version__"]
