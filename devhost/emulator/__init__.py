"""Azure ML workspace emulator (ARM REST shapes for jobs, api-version 2024-10-01)."""

from .faults import FAULT_KINDS, FaultPlan
from .server import API_VERSION, WorkspaceEmulator

__all__ = ["API_VERSION", "FAULT_KINDS", "FaultPlan", "WorkspaceEmulator"]
