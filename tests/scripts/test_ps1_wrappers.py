"""The PowerShell wrappers, checked without PowerShell (there is none here).

Every ``scripts/*.ps1`` must parse with tree-sitter's PowerShell grammar without an ERROR or
MISSING node. Each wrapper must find its interpreter through ``find_python.ps1`` (never a bare
``python``), forward its own arguments unchanged and end with ``exit $LASTEXITCODE``; the helper
must search the repository's venv, then ``py -3``, then ``python`` on PATH, and exit non-zero
when none will do. Its probe, the one line of Python every candidate runs, is run here for real.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_pwsh
from tree_sitter import Language, Node, Parser

from .conftest import REPO_ROOT, SCRIPTS, checkout_env

#: Each wrapper and the script it runs.
WRAPPERS = {"diagnose.ps1": "diagnose.py", "hub_top.ps1": "hub_top.py",
            "smoke_checks.ps1": "smoke_checks.py"}
HELPER = SCRIPTS / "find_python.ps1"
PS1_FILES = sorted(SCRIPTS.glob("*.ps1"))
_PARSER = Parser(Language(tree_sitter_pwsh.language()))
#: The probe's exit codes (find_python.ps1).
PROBE_USABLE, PROBE_NO_PACKAGE = 0, 3


def parse(source: bytes) -> Node:
    return _PARSER.parse(source).root_node


def descendants(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from descendants(child)


def syntax_errors(root: Node) -> list[str]:
    """Every ERROR and MISSING node, with its line and column (1-based) and text."""
    return [f"{'MISSING' if n.is_missing else 'ERROR'} at {n.start_point[0] + 1}:"
            f"{n.start_point[1] + 1}: {text(n)[:60]!r}"
            for n in descendants(root) if n.is_error or n.is_missing]


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def of_type(root: Node, kind: str) -> list[Node]:
    return [n for n in descendants(root) if n.type == kind]


def command_name(command: Node) -> str:
    name = command.child_by_field_name("command_name")
    return text(name) if name is not None else ""


def invoked_with(command: Node, operator: str) -> bool:
    return any(c.type == "command_invocation_operator" and text(c) == operator
               for c in command.children)


def statements(root: Node) -> list[Node]:
    (body,) = [c for c in root.children if c.type == "statement_list"]
    return list(body.named_children)


def test_every_wrapper_and_the_helper_are_checked() -> None:
    assert {p.name for p in PS1_FILES} >= {*WRAPPERS, HELPER.name}


@pytest.mark.parametrize("path", PS1_FILES, ids=[p.name for p in PS1_FILES])
def test_every_ps1_parses_without_syntax_errors(path: Path) -> None:
    root = parse(path.read_bytes())
    assert syntax_errors(root) == []
    assert not root.has_error


@pytest.mark.parametrize("broken", [
    b"if ($x { exit 1 }\n",
    b"function Find-It {\n    param([string]$a)\n",
    b"& $exe @prefix (Join-Path $PSScriptRoot 'x.py' @forward\n",
    b"$m = \"unterminated\n",
], ids=["paren", "brace", "call", "string"])
def test_the_syntax_check_finds_errors(broken: bytes) -> None:
    assert syntax_errors(parse(broken)), "a broken script parsed clean: the check is blind"


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_each_wrapper_finds_python_forwards_its_arguments_and_passes_the_exit_code(
        wrapper: str) -> None:
    root = parse((SCRIPTS / wrapper).read_bytes())
    steps = statements(root)
    # Its arguments are kept first, before dot-sourcing can touch $args.
    first = steps[0]
    assert first.type == "pipeline" and text(first).replace(" ", "").endswith("=$args"), \
        text(first)
    kept = text(first).split("=")[0].strip()
    commands = of_type(root, "command")
    dot_sourced = [c for c in commands if invoked_with(c, ".") and "find_python.ps1" in text(c)]
    search = [c for c in commands if command_name(c) == "Find-SheratanPython"]
    calls = [c for c in commands if invoked_with(c, "&")]
    assert len(dot_sourced) == 1 and len(search) == 1 and len(calls) == 1
    (call,) = calls
    assert dot_sourced[0].start_byte < search[0].start_byte < call.start_byte
    elements = call.child_by_field_name("command_elements")
    assert elements is not None
    assert f"'{WRAPPERS[wrapper]}'" in text(elements)
    # Every argument, splatted last and unchanged.
    assert text(elements.named_children[-1]) == "@" + kept.removeprefix("$")
    # No interpreter is called by name: only the one the search found.
    named = {command_name(c).lower() for c in commands}
    assert not named & {"python", "python3", "python.exe", "py", "py.exe"}
    last = steps[-1]
    assert last.type == "flow_control_statement" and text(last) == "exit $LASTEXITCODE"


def _function(root: Node, name: str) -> Node:
    (found,) = [f for f in of_type(root, "function_statement")
                if any(c.type == "function_name" and text(c) == name for c in f.children)]
    return found


def test_the_helper_tries_the_venv_then_py_3_then_python_on_path() -> None:
    root = parse(HELPER.read_bytes())
    candidates = _function(root, "Get-SheratanPythonCandidates")
    venv = [s for s in of_type(candidates, "string_literal")
            if text(s) == "'.venv\\Scripts\\python.exe'"]
    lookups = {text(c).split()[1]: c for c in of_type(candidates, "command")
               if command_name(c) == "Get-Command"}
    assert len(venv) == 1 and set(lookups) == {"py", "python"}
    assert venv[0].start_byte < lookups["py"].start_byte < lookups["python"].start_byte
    assert "'-3'" in text(candidates)
    assert "-All" in text(lookups["python"]).split()  # every python on PATH, not just the first


def test_the_helper_exits_9009_when_no_python_will_do() -> None:
    root = parse(HELPER.read_bytes())
    find = _function(root, "Find-SheratanPython")
    exits = [text(s) for s in of_type(find, "flow_control_statement")
             if text(s).startswith("exit")]
    assert exits == ["exit $SheratanNoPython"]
    assignments = {text(a).split("=")[0].strip(): text(a).split("=", 1)[1].strip()
                   for a in of_type(root, "assignment_expression")}
    assert assignments["$SheratanNoPython"] == "9009"
    # It probes each candidate and stops at the first usable one.
    assert "-c $SheratanProbe" in text(find)


def _probe_code() -> str:
    """The Python line find_python.ps1 runs on each candidate, as PowerShell hands it over."""
    root = parse(HELPER.read_bytes())
    (assignment,) = [a for a in of_type(root, "assignment_expression")
                     if text(a).startswith("$SheratanProbe")]
    parts = [text(s) for s in of_type(assignment, "verbatim_string_characters")]
    assert parts and all(p.startswith("'") and p.endswith("'") for p in parts)
    return "".join(p[1:-1].replace("''", "'") for p in parts)


def test_the_probe_accepts_a_python_with_the_package() -> None:
    done = subprocess.run([sys.executable, "-c", _probe_code()], env=checkout_env(),
                          cwd="/", capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == PROBE_USABLE, done.stderr


def test_the_probe_tells_a_python_without_the_package_even_from_the_repository() -> None:
    # -S: no site-packages, so no installed copy; the checkout in the current folder must not
    # count either, since scripts\x.py does not run with the current folder on sys.path.
    env = {k: v for k, v in checkout_env().items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-c", _probe_code()], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == PROBE_NO_PACKAGE, done.stderr
