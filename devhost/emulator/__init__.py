"""Azure ML workspace emulator: the ARM REST surface the connector and the azure-ai-ml
SDK use (every published api-version), plus the run-history data plane; sweeps whose code
maps to a local folder run for real (rehearsals). See docs/emulator.md."""

from .faults import FAULT_KINDS, FaultPlan
from .rehearsals import CodeMap, RehearsalSetup
from .server import API_VERSION, WorkspaceEmulator

__all__ = ["API_VERSION", "FAULT_KINDS", "CodeMap", "FaultPlan", "RehearsalSetup", "WorkspaceEmulator"]
