"""Azure ML workspace emulator: the ARM REST surface the connector and the azure-ai-ml
SDK use (every published api-version), plus the run-history data plane. See docs/emulator.md."""

from .faults import FAULT_KINDS, FaultPlan
from .server import API_VERSION, WorkspaceEmulator

__all__ = ["API_VERSION", "FAULT_KINDS", "FaultPlan", "WorkspaceEmulator"]
