"""Polysync's side of the connector: its run requests, the sweep it asks for, what it is told back.

Imports the Azure ML adapter (`foundry`), never the reverse.
"""
