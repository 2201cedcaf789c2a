"""The trial command with `${{search_space.x}}`, `${{inputs.x}}` and `${{outputs.x}}` filled in.

Azure ML runs a command job's command through a shell in the job's container and pastes each
value into the command text as it is. Here the command runs on the user's own machine, with
values that may come from Polysync parameters, so every value is shell-quoted for the place it
lands in (unquoted, inside '...' or inside "..."): a value can never run as shell code. Where
Azure's unquoted paste would split or interpret a value (spaces, `;`, `$`, ...), the rendering
says so in a warning, since that trial would behave differently there.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import SpecProblem

REFERENCE = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_NAMED = re.compile(r"^(search_space|inputs|outputs)\.([A-Za-z_][A-Za-z0-9_\-]*)$")


@dataclass(frozen=True)
class Reference:
    namespace: str
    name: str


@dataclass
class RenderedCommand:
    text: str
    warnings: list[str] = field(default_factory=list)


def references(command: str) -> list[Reference]:
    refs = []
    for match in REFERENCE.finditer(command):
        named = _NAMED.match(match.group(1))
        refs.append(Reference(*named.groups()) if named else Reference("", match.group(1)))
    return refs


def check_references(
    command: str, *, search_space: set[str], inputs: set[str], outputs: set[str]
) -> list[SpecProblem]:
    """Every `${{...}}` of the command must name a search-space parameter, input or output."""
    known = {"search_space": search_space, "inputs": inputs, "outputs": outputs}
    where = {"search_space": "searchSpace", "inputs": "inputs", "outputs": "outputs"}
    problems = []
    for ref in references(command):
        if not ref.namespace:
            problems.append(
                SpecProblem(
                    "trial.command",
                    f"${{{{{ref.name}}}}} is not a reference the rehearsal can fill",
                    "use ${{search_space.NAME}}, ${{inputs.NAME}} or ${{outputs.NAME}}",
                )
            )
        elif ref.name not in known[ref.namespace]:
            problems.append(
                SpecProblem(
                    "trial.command",
                    f"${{{{{ref.namespace}.{ref.name}}}}} names no entry of {where[ref.namespace]}",
                    f"declare '{ref.name}' in {where[ref.namespace]} or fix the reference",
                )
            )
    return problems


def _needs_quoting(text: str) -> bool:
    return text == "" or shlex.quote(text) != text


def render(
    command: str,
    *,
    search_space: Mapping[str, str],
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
) -> RenderedCommand:
    """Fill every reference with its (already formatted) text. References must have been checked."""
    tables = {"search_space": search_space, "inputs": inputs, "outputs": outputs}
    out: list[str] = []
    warnings: list[str] = []
    quote = ""  # "", "'" or '"': the shell quoting in force where the scan stands
    i = 0
    while i < len(command):
        match = REFERENCE.match(command, i) if command.startswith("${{", i) else None
        if match:
            named = _NAMED.match(match.group(1))
            assert named, f"unchecked reference {match.group(0)}"
            namespace, name = named.groups()
            text = tables[namespace][name]
            # close the quoting in force, paste the value quoted on its own, reopen
            out.append(f"{quote}{shlex.quote(text)}{quote}")
            if not quote and _needs_quoting(text) and namespace != "outputs":
                warnings.append(
                    f"${{{{{namespace}.{name}}}}} = {text!r} contains spaces or shell characters: Azure ML pastes "
                    "values into the command unquoted, so its shell would split or interpret it"
                )
            i = match.end()
            continue
        ch = command[i]
        if ch == "\\" and quote != "'":
            out.append(command[i : i + 2])
            i += 2
            continue
        if ch in "'\"" and (not quote or quote == ch):
            quote = "" if quote else ch
        out.append(ch)
        i += 1
    return RenderedCommand("".join(out), warnings)
