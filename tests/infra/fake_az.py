"""A stand-in for the Azure CLI on PATH, for driving the azd hooks without Azure.

Answers come from a scenario file (FAKE_AZ_SCENARIO): rules matched in order on the argument list,
each with a queue of answers (the last one repeats). Every call is appended to FAKE_AZ_LOG as a JSON
line, with the content of any `@file` argument (deployment parameters, REST bodies) read while the
file still exists. The answers copy what `az` prints: JSON on stdout, `ERROR: ...` on stderr,
exit code 1 on failure (`az rest` prints `Not Found({"error": ...})` for a 404, for example).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _file_argument(args: list[str], flag: str) -> object:
    if flag in args:
        value = args[args.index(flag) + 1]
        if value.startswith("@"):
            path = Path(value[1:])
            return {"path": str(path), "content": json.loads(path.read_text(encoding="utf-8"))}
    return None


def main() -> int:
    args = sys.argv[1:]
    scenario = json.loads(Path(os.environ["FAKE_AZ_SCENARIO"]).read_text(encoding="utf-8"))
    state_path = Path(os.environ["FAKE_AZ_SCENARIO"] + ".state")
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    record = {
        "args": args,
        "parameters": _file_argument(args, "--parameters"),
        "body": _file_argument(args, "--body"),
    }
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    joined = " ".join(args)
    for index, rule in enumerate(scenario["rules"]):
        if all(part in joined for part in rule["match"]):
            answers = rule["answers"]
            used = state.get(str(index), 0)
            answer = answers[min(used, len(answers) - 1)]
            state[str(index)] = used + 1
            state_path.write_text(json.dumps(state), encoding="utf-8")
            out = answer.get("out", "")
            sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
            sys.stderr.write(answer.get("err", ""))
            return int(answer.get("code", 0))
    sys.stderr.write(f"ERROR: fake az has no answer for: {joined}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
