"""Cold start: `python -X importtime -c "import function_app"` and, as the
alternative client, `import azure.ai.ml` from a throwaway venv under bench/out/
(never part of requirements). Each measurement is a fresh interpreter."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
AIML_VENV = OUT / "azure-ai-ml-venv"

# Modules that must not load on `import function_app` (deferred to first use),
# and SDK state that must stay unset (no aiohttp session before the first call).
HEAVY = ("azure.identity", "msal", "azure.ai.ml")
PROBE = f"""
import sys, json, function_app
from azure.durable_functions.models.utils import http_utils
print(json.dumps({{
    "loaded": [m for m in {HEAVY!r} if m in sys.modules],
    "aiohttp_module_loaded": "aiohttp" in sys.modules,
    "aiohttp_session_created": http_utils._client_session is not None,
}}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def importtime_total(python: str, statement: str, module: str) -> tuple[float, float]:
    """(cumulative import time of `module` in s per -X importtime, process wall s).
    The module's line may be nested (azure -> azure.ai -> azure.ai.ml): its own
    cumulative figure covers everything it pulled in."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    wall = time.perf_counter() - t0
    total_us = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            total_us = max(total_us, int(parts[1]))
    return total_us / 1e6, wall


def plain_import_s(python: str, statement: str) -> float:
    """The import timed inside the process, without -X importtime's own overhead."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    proc = subprocess.run(
        [python, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120, check=True
    )
    return float(proc.stdout.strip().splitlines()[-1])


def measure(python: str, statement: str, module: str, repeats: int) -> dict[str, Any]:
    runs = [importtime_total(python, statement, module) for _ in range(repeats)]
    plain = [plain_import_s(python, statement) for _ in range(repeats)]
    return {
        "plain_import_s_median": statistics.median(plain),
        "importtime_s_median": statistics.median(r[0] for r in runs),
        "importtime_s_min": min(r[0] for r in runs),
        "process_wall_s_median": statistics.median(r[1] for r in runs),
        "repeats": repeats,
    }


def _python_startup(python: str, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True, env=_env())
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def _aiml_python(install_timeout: float) -> tuple[str | None, str]:
    """A python with azure-ai-ml importable (cached venv under bench/out/), or a reason."""
    py = AIML_VENV / "bin" / "python"
    ok = (
        py.exists()
        and subprocess.run([str(py), "-c", "import azure.ai.ml"], capture_output=True).returncode == 0
    )
    if ok:
        return str(py), "cached venv bench/out/azure-ai-ml-venv"
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(AIML_VENV)], check=True, timeout=120)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "azure-ai-ml"],
            capture_output=True,
            text=True,
            timeout=install_timeout,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            return None, f"pip install azure-ai-ml failed: {tail[0][:200]}"
        return str(py), f"installed into bench/out/azure-ai-ml-venv in {time.perf_counter() - t0:.0f} s"
    except subprocess.TimeoutExpired:
        return None, f"pip install azure-ai-ml did not finish within {install_timeout:.0f} s"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"could not create the throwaway venv: {exc}"


def run(*, repeats: int = 5, install_timeout: float = 240.0, with_aiml: bool = True) -> dict[str, Any]:
    py = sys.executable
    out: dict[str, Any] = {"python_startup_s_median": _python_startup(py, repeats)}
    out["function_app"] = measure(py, "import function_app", "function_app", repeats)
    probe = subprocess.run(
        [py, "-c", PROBE], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True, timeout=120
    )
    out["function_app"]["probe"] = json.loads(probe.stdout.strip().splitlines()[-1])
    out["azure_ai_ml"] = {"skipped": "not requested"}
    if with_aiml:
        aiml_py, why = _aiml_python(install_timeout)
        if aiml_py is None:
            out["azure_ai_ml"] = {"skipped": why}
        else:
            out["azure_ai_ml"] = measure(aiml_py, "import azure.ai.ml", "azure.ai.ml", repeats)
            out["azure_ai_ml"]["source"] = why
            ver = subprocess.run(
                [aiml_py, "-c", "import importlib.metadata as m; print(m.version('azure-ai-ml'))"],
                capture_output=True,
                text=True,
            )
            out["azure_ai_ml"]["version"] = ver.stdout.strip()
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
