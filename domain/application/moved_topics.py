"""Where events and aggregates stored under an older module path are found now.

A stored event names its class by topic (``module:qualname``), and an aggregate's first
event names the aggregate's class too. Ledgers written before the domain was grouped into
packages name the old modules; registering each old module path with the module that holds
its classes now lets every such ledger load, project and verify unchanged.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from domain import payroll_periods, relief, standards
from domain.application import idempotency, import_progress
from domain.cases import case
from domain.people import index

MOVED_MODULES = {
    "domain.case": case,
    "domain.person_index": index,
    "domain.payroll": payroll_periods,
    "domain.idempotency": idempotency,
    "domain.import_progress": import_progress,
    "domain.relief": relief,
    "domain.standards": standards,
}


def register_moved_modules() -> None:
    for old_path, module in MOVED_MODULES.items():
        if old_path != module.__name__:
            register_topic(old_path, module)
