"""Glue shared by the durable layers (activities, orchestrator, triggers)."""
