"""Local stand-in for the Azure Functions host + Durable Functions extension."""

from .history import EventType
from .host import DurableHost
from .metrics import HostMetrics, InstanceMetrics
from .replay import replay_prefixes

__all__ = ["DurableHost", "EventType", "HostMetrics", "InstanceMetrics", "replay_prefixes"]
