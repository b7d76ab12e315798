"""The PowerShell scripts under app/drivers/windows: syntax (tree-sitter-powershell from
PyPI), structure (one JSON document per run), and the pins of their reviewed lab replies."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from app.drivers.windows import SCRIPTS, script, with_args
from app.remote.winrm import BOOTSTRAP

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_DIR = ROOT / "app" / "drivers" / "windows"
PARSER = Parser(Language(tree_sitter_powershell.language()))
_VALUE_CONTEXTS = {"assignment_expression", "parenthesized_expression", "argument_list",
                   "sub_expression", "array_expression"}


def syntax_errors(source: bytes) -> list[str]:
    """Every ERROR or MISSING node of the parse tree, with its line."""
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.is_error or node.is_missing:
            found.append(f"line {node.start_point[0] + 1}: {node.type}")
        for child in node.children:
            walk(child)

    walk(PARSER.parse(source).root_node)
    return found


def output_statements(source: bytes) -> list[Node]:
    """Pipelines ending in ConvertTo-Json whose value goes to the output stream."""
    outputs = []

    def walk(node: Node) -> None:
        if node.type == "command_name" and node.text == b"ConvertTo-Json":
            up = node.parent
            while up is not None and up.type not in _VALUE_CONTEXTS | {"statement_list"}:
                up = up.parent
            if up is not None and up.type == "statement_list":
                outputs.append(node)
        for child in node.children:
            walk(child)

    walk(PARSER.parse(source).root_node)
    return outputs


def _statement_of(node: Node) -> tuple[Node, Node]:
    child = node
    while child.parent is not None and child.parent.type != "statement_list":
        child = child.parent
    assert child.parent is not None
    return child, child.parent


def test_every_script_file_is_listed_and_loads() -> None:
    assert sorted(p.stem for p in SCRIPT_DIR.glob("*.ps1")) == sorted(SCRIPTS)
    for name in SCRIPTS:
        assert script(name).text.startswith(f"# PatchDesk script: {name}\n")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_parses_without_syntax_errors(name: str) -> None:
    source = (SCRIPT_DIR / f"{name}.ps1").read_bytes()
    assert syntax_errors(source) == []
    # ASCII only: Windows PowerShell 5.1 reads a BOM-less file as the ANSI code page.
    assert all(b < 128 for b in source)
    assert b"$ErrorActionPreference = 'Stop'" in source


@pytest.mark.parametrize("broken", [
    b"if ($x) { $a = 1\n",
    b"$h = @{ a = 1\n$h | ConvertTo-Json\n",
    b"Write-Output 'unterminated\n",
    b"foreach ($i in 1..3) { $i ) }\n",
])
def test_the_syntax_check_catches_broken_powershell(broken: bytes) -> None:
    assert syntax_errors(broken)


def one_document_problems(source: bytes) -> list[str]:
    """Why a script might print other than exactly one JSON document per run."""
    outputs = output_statements(source)
    if not outputs:
        return ["no ConvertTo-Json on the output stream"]
    problems = []
    for node in outputs:
        statement, block = _statement_of(node)
        line = node.start_point[0] + 1
        # The last statement of the script or of one switch branch: one document per run.
        if block.named_children[-1] != statement:
            problems.append(f"line {line}: output is not the last statement of its block")
        owner = block.parent
        if owner is None or not (
                owner.type == "program"
                or (owner.type == "statement_block" and owner.parent is not None
                    and owner.parent.type == "switch_clause")):
            problems.append(f"line {line}: output inside {owner.type if owner else '?'}")
    if sum(1 for n in outputs if _statement_of(n)[1].parent.type == "program") > 1:
        problems.append("more than one top-level output")
    for banned in (b"Write-Host", b"Write-Output", b"Format-Table"):
        if banned in source:
            problems.append(f"uses {banned.decode()}")
    return problems


@pytest.mark.parametrize("name", [n for n in SCRIPTS
                                  if n not in ("wua_worker", "apps_worker")])
def test_each_run_prints_exactly_one_json_document(name: str) -> None:
    assert one_document_problems((SCRIPT_DIR / f"{name}.ps1").read_bytes()) == []


@pytest.mark.parametrize("bad", [
    b"$a = 1\n@{a=1} | ConvertTo-Json\n@{b=2} | ConvertTo-Json\n",
    b"@{a=1} | ConvertTo-Json\n$b = 2\n",
    b"foreach ($i in 1..2) { @{a=$i} | ConvertTo-Json }\n",
    b"$x = @{a=1} | ConvertTo-Json\n",
    b"Write-Host 'hi'\n@{a=1} | ConvertTo-Json\n",
])
def test_the_structure_check_catches_extra_or_missing_documents(bad: bytes) -> None:
    assert one_document_problems(bad)


@pytest.mark.parametrize("worker", ["wua_worker", "apps_worker"])
def test_the_worker_prints_nothing_and_writes_one_result_file(worker: str) -> None:
    source = (SCRIPT_DIR / f"{worker}.ps1").read_bytes()
    assert output_statements(source) == []
    assert source.count(b"WriteAllText($resultFile") == 1


def test_reviewed_pins_match_the_scripts() -> None:
    """A changed script must get its simulated lab reply re-reviewed (the lab refuses it)."""
    reviewed = json.loads((ROOT / "tests" / "lab" / "winrm_reviewed.json").read_text())
    for name in SCRIPTS:
        assert reviewed[name]["sha256"] == script(name).sha256, (
            f"{name}.ps1 changed: review tests/lab/winrm_hosts.py's reply, then update "
            "tests/lab/winrm_reviewed.json")
    assert reviewed["bootstrap"]["sha256"] == hashlib.sha256(BOOTSTRAP.encode()).hexdigest()


def test_parameters_are_never_interpolated_into_the_script() -> None:
    hostile = {"action": "poll", "job_id": "'; Remove-Item C:\\ -Recurse; '", "offset": 0}
    text = with_args(script("wua_task"), hostile)
    first, rest = text.split("\n", 1)
    assert rest == script("wua_task").text
    blob = first.removeprefix("$PatchDeskArgs = '").removesuffix("'")
    assert set(blob) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    assert json.loads(base64.b64decode(blob)) == hostile
    assert syntax_errors(text.encode()) == []
