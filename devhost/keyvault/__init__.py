"""Azure Key Vault emulator (secrets data plane) on a loopback TLS front."""

from .server import API_VERSIONS, KeyVaultEmulator

__all__ = ["API_VERSIONS", "KeyVaultEmulator"]
