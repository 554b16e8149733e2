"""Reporting compile records to a GraphMemory-IDE backend, through an outbox."""

from codon_lsp.reporter.delivery import DeliveryPolicy, Reporter
from codon_lsp.reporter.outbox import Outbox

__all__ = ["DeliveryPolicy", "Outbox", "Reporter"]
