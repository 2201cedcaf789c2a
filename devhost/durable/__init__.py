"""Local stand-in for the Azure Functions host + Durable Functions extension."""

from .engine import InstanceExists, UnknownOrchestrator
from .history import EventType
from .host import DurableHost
from .metrics import HostMetrics, InstanceMetrics
from .replay import replay_prefixes

__all__ = [
    "DurableHost",
    "EventType",
    "HostMetrics",
    "InstanceExists",
    "InstanceMetrics",
    "UnknownOrchestrator",
    "replay_prefixes",
]
