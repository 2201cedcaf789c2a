"""What `import function_app` loads (cold start on Flex Consumption): the Functions
and Durable SDKs, and none of the libraries only some invocations need. Checked
in a fresh interpreter by module presence, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = ("pydantic", "requests", "cryptography", "azure.identity", "msal", "azure.ai.ml")


def test_import_function_app_defers_heavy_libraries():
    code = (
        "import json, sys, function_app; "
        f"print(json.dumps([m for m in {list(DEFERRED)!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
