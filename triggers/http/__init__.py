"""HTTP routes: start, status, cancel, template discovery."""
