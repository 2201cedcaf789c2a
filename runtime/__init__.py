"""The composition root: settings read once, services built on first use."""
