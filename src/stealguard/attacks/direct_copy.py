"""direct-copy (fully accessible): the victim's weights as they are — the 'Source' row of every table."""

from __future__ import annotations

import copy

from .base import Attack


class DirectCopy(Attack):
    """The victim's weights copied unchanged (the tables' 'Source' row)."""
    name = "direct-copy"
    summary = "the victim's weights, copied as they are (the 'Source' row)"
    access = "model"
    data = "none"

    def steal(self, victim, data, settings):
        return copy.deepcopy(victim.module).eval(), {}
