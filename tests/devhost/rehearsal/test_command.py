"""Trial command rendering: `${{search_space.x}}`, `${{inputs.x}}`, `${{outputs.x}}` (the
reference syntax of Azure ML command jobs, reference-yaml-job-sweep / facts.md), checked against
the job's declarations, and quoted so that no value runs as shell code. The quoting is proven
by a real bash, the shell the rehearsal runs trials with."""

from __future__ import annotations

import subprocess

import pytest

from devhost.rehearsal.command import check_references, references, render

NASTY = ["plain", "two words", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "x\\y", "", "*", "new\nline", "-n"]


def _argv(command: str) -> list[str]:
    """What bash passes to a program for `command` (printf prints each argument NUL-terminated)."""
    out = subprocess.run(["/bin/bash", "-c", f"printf '%s\\0' {command}"], capture_output=True, check=True)
    return out.stdout.decode().split("\0")[:-1]


def test_unquoted_single_and_double_quoted_references_all_reach_the_program_intact():
    for value in NASTY:
        for template in ("${{search_space.x}}", "'--x=${{search_space.x}}'", '"--x=${{search_space.x}}"'):
            rendered = render(template, search_space={"x": value}, inputs={}, outputs={})
            got = _argv(rendered.text)
            expected = value if template.startswith("$") else f"--x={value}"
            assert got == [expected], (template, value, rendered.text)


def test_unquoted_value_that_azure_would_split_is_warned_about():
    rendered = render(
        "run --opt ${{search_space.opt}}", search_space={"opt": "hello world"}, inputs={}, outputs={}
    )
    assert rendered.text == "run --opt 'hello world'"
    assert "hello world" in rendered.warnings[0] and "unquoted" in rendered.warnings[0]
    assert not render(
        'run "${{search_space.opt}}"', search_space={"opt": "a b"}, inputs={}, outputs={}
    ).warnings


def test_escaped_quotes_do_not_confuse_the_quote_tracking():
    rendered = render(
        r'echo \" ${{search_space.x}} "a\"b"', search_space={"x": "$(id)"}, inputs={}, outputs={}
    )
    assert _argv(rendered.text.removeprefix("echo ")) == ['"', "$(id)", 'a"b']


def test_inputs_and_outputs_are_filled():
    rendered = render(
        "python t.py --data ${{inputs.data}} --epochs ${{ inputs.epochs }} --out ${{outputs.model}}",
        search_space={},
        inputs={"data": "/tmp/d", "epochs": "10"},
        outputs={"model": "/tmp/out/model"},
    )
    assert rendered.text == "python t.py --data /tmp/d --epochs 10 --out /tmp/out/model"


def test_references_must_name_declared_entries():
    command = "t ${{search_space.lr}} ${{search_space.nope}} ${{inputs.x}} ${{outputs.y}} ${{parent.jobs.z}}"
    assert [r.namespace for r in references(command)] == [
        "search_space",
        "search_space",
        "inputs",
        "outputs",
        "",
    ]
    problems = check_references(command, search_space={"lr"}, inputs=set(), outputs={"y"})
    assert [p.field for p in problems] == ["trial.command"] * 3
    text = " ".join(str(p) for p in problems)
    assert "search_space.nope" in text and "inputs.x" in text and "parent.jobs.z" in text
    assert "outputs.y" not in text


@pytest.mark.parametrize("value", NASTY)
def test_no_value_runs_as_shell_code(value, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"{value}; touch {marker}"
    rendered = render(
        "echo ${{search_space.x}} > /dev/null", search_space={"x": payload}, inputs={}, outputs={}
    )
    subprocess.run(["/bin/bash", "-c", rendered.text], check=True)
    assert not marker.exists()
