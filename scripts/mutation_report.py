"""tests/MUTATION.md from mutmut's results: the score of each mutated module and every
surviving mutant, joined with the reason it is equivalent (tests/mutation-equivalents.toml).

Run by `make mutate` after `mutmut run`, from the repository root (mutmut's `mutants/`
holds the results). Nothing in MUTATION.md is written by hand: scores are counted from
mutmut's exit codes, survivors' diffs come from mutmut, reasons from the data file.

A survivor is explained only when the data file has its name AND the same mutated line:
mutmut numbers mutants per function, so an edit can give an old name to a new mutant,
and a reason written for another mutation must not cover it. The report flags every
survivor without a (matching) reason and every module under the threshold, and exits 1
when there is any, after writing the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
REASONS = ROOT / "tests" / "mutation-equivalents.toml"
THRESHOLD = 90.0

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code), by what they mean here
KILLED = {
    1: "killed",
    3: "killed",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious"}


def mutated_modules(pyproject: Path = PYPROJECT) -> list[str]:
    """The files `make mutate` mutates: `[tool.mutmut] only_mutate`."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mutmut"]
    return list(config["only_mutate"])


def load_reasons(path: Path = REASONS) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    return {name: dict(entry) for name, entry in tomllib.loads(path.read_text(encoding="utf-8")).items()}


@dataclass
class Survivor:
    name: str
    status: str
    removed: list[str]
    added: list[str]
    line: int | None
    reason: str | None
    problem: str | None


@dataclass
class ModuleResult:
    path: str
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[Survivor] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return self.counts.get("killed", 0) + self.counts.get("timeout", 0)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def _changed_lines(diff: str) -> tuple[list[str], list[str], int | None]:
    """(removed lines, added lines, line of the first removed one within the function text)."""
    removed: list[str] = []
    added: list[str] = []
    first: int | None = None
    old = 0
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            old = int(line.split()[1].lstrip("-").split(",")[0])
        elif line.startswith("-"):
            removed.append(line[1:].strip())
            first = old if first is None else first
            old += 1
        elif line.startswith("+"):
            added.append(line[1:].strip())
        else:
            old += 1
    return removed, added, first


def _def_line(source: list[str], mutant: str) -> int | None:
    """The line of the mutated function's `def` (a method's within its class)."""
    qualified = mutant.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    parts = qualified.removeprefix("x").strip("_ǁ").split("ǁ") if "ǁ" in qualified else [qualified[2:]]
    start = 0
    if len(parts) == 2:
        cls = next((i for i, t in enumerate(source) if t.startswith(f"class {parts[0]}")), None)
        if cls is None:
            return None
        start = cls
    name = parts[-1]
    for number in range(start, len(source)):
        if source[number].lstrip().startswith((f"def {name}(", f"async def {name}(")):
            return number + 1
    return None


def collect(modules: list[str], reasons: dict[str, dict[str, str]]) -> list[ModuleResult]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # the tool's own diff

    results = []
    for module in modules:
        result = ModuleResult(module)
        meta = ROOT / "mutants" / (module + ".meta")
        if not meta.exists():
            results.append(result)
            continue
        exit_codes: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        source = (ROOT / module).read_text(encoding="utf-8").splitlines()
        for name, code in sorted(exit_codes.items(), key=lambda kv: _natural(kv[0])):
            status = (
                KILLED.get(code) or NOT_KILLED.get(code) or ("not checked" if code is None else "suspicious")
            )
            result.counts[status] = result.counts.get(status, 0) + 1
            if status in ("killed", "timeout", "not checked"):
                continue  # not checked: counted, and flagged per module below
            removed, added, offset = _changed_lines(get_diff_for_mutant(name, path=Path(module)))
            start = _def_line(source, name)
            line = start + offset - 1 if start is not None and offset is not None else None
            entry = reasons.get(name)
            reason = problem = None
            if status != "survived":
                problem = f"{status}: see `mutmut show {name}`"
            elif entry is None:
                problem = (
                    "no reason given: kill it with a test, or explain it in tests/mutation-equivalents.toml"
                )
            elif entry.get("mutation", "").strip() != " / ".join(added):
                problem = "the reason on file is for another mutation (the function changed): re-check it"
            else:
                reason = entry["reason"]
            result.survivors.append(Survivor(name, status, removed, added, line, reason, problem))
        results.append(result)
    return results


def _natural(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("_")
    return (head, int(number)) if number.isdigit() else (name, 0)


def render(results: list[ModuleResult], *, seconds: float | None, jobs: int | None) -> str:
    total = sum(r.total for r in results)
    killed = sum(r.killed for r in results)
    lines = [
        "# Mutation testing",
        "",
        "Generated by `make mutate` (mutmut, then `scripts/mutation_report.py`): do not edit by hand.",
        "Each mutant runs only the tests that call the mutated function (mutmut's per-function test",
        "map over the `pytest_add_cli_args_test_selection` of `[tool.mutmut]` in pyproject.toml).",
        "Score = killed (or timed out) / all mutants of the module: equivalent survivors count against",
        f"it too. Target: every module {THRESHOLD:.0f}% or better, every survivor explained in",
        "`tests/mutation-equivalents.toml`.",
        "",
    ]
    if seconds is not None:
        lines.append(
            f"Last run: {total} mutants, {killed} killed, in {seconds / 60:.1f} minutes"
            + (f" with {jobs} workers." if jobs else ".")
        )
        lines.append("")
    lines += [
        "## Score per module",
        "",
        "| module | mutants | killed | survived | other | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        survived = r.counts.get("survived", 0)
        other = r.total - r.killed - survived
        flag = "" if r.score >= THRESHOLD else " **below target**"
        lines.append(f"| `{r.path}` | {r.total} | {r.killed} | {survived} | {other} | {r.score:.1f}%{flag} |")
    lines += ["", "## Survivors", ""]
    any_survivor = False
    for r in results:
        if not r.survivors:
            continue
        any_survivor = True
        lines += [f"### `{r.path}`", ""]
        for s in r.survivors:
            where = f"line {s.line}" if s.line else "line ?"
            change = " / ".join(s.added) or "(line removed)"
            was = " / ".join(s.removed)
            lines.append(f"- `{s.name}` ({where}): `{was}` -> `{change}`")
            if s.reason:
                lines.append(f"  - equivalent: {s.reason}")
            else:
                lines.append(f"  - **UNEXPLAINED**: {s.problem}")
        lines.append("")
    if not any_survivor:
        lines += ["None.", ""]
    return "\n".join(lines)


def problems(results: list[ModuleResult]) -> list[str]:
    found = [f"{r.path}: {r.score:.1f}% is below {THRESHOLD:.0f}%" for r in results if r.score < THRESHOLD]
    found += [
        f"{r.path}: {r.counts['not checked']} mutants not checked (run `make mutate` to completion)"
        for r in results
        if r.counts.get("not checked")
    ]
    found += [f"{s.name}: {s.problem}" for r in results for s in r.survivors if s.problem]
    return found


def _run_time() -> tuple[float | None, int | None]:
    """How long the `mutmut run` of these results took, and with how many workers
    (`make mutate` measures it and writes `mutants/run-time`)."""
    path = ROOT / "mutants" / "run-time"
    if not path.exists():
        return None, None
    seconds, jobs = path.read_text(encoding="utf-8").split()
    return float(seconds), int(jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=ROOT / "tests" / "MUTATION.md")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut reads its results from ./mutants
    seconds, jobs = _run_time()
    results = collect(mutated_modules(), load_reasons())
    args.write.write_text(render(results, seconds=seconds, jobs=jobs), encoding="utf-8")
    found = problems(results)
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"wrote {args.write}: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
