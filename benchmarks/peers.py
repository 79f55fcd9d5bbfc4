"""The oracle benchmark's peers on the synthetic rules of ``synthetic.py``: a plain-Python floor
(hand-written predicates, one list per tool) and OPA (the same rules in Rego, run by ``opa bench``
when an ``opa`` binary is there: on PATH or built by ``benchmarks/opa/build.sh``)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthetic import GLOB_RULES, RULES_PER_TOOL, TOOLS

from alignment_flywheel.events import Proposal

Predicate = Callable[[dict[str, Any], Proposal], bool]
OPA_DIR = Path(os.environ.get("FLYWHEEL_OPA_DIR", Path.home() / ".cache/alignment-flywheel/opa"))


def _shapes(n: int, big: int) -> list[Predicate]:
    """The ten synthetic shapes, written by hand in Python."""
    rm = re.compile(rf"rm\s+-[a-z]*r{n}").search
    regions = {f"xx-{n}", f"yy-{n}", f"zz-{n}"}
    return [
        lambda a, p: rm(a["cmd"]) is not None,
        lambda a, p: a["path"].startswith(f"/etc/{n}"),
        lambda a, p: a["count"] > big,
        lambda a, p: "force" in a and a["force"] is True and a["target"] == f"prod-{n}",
        lambda a, p: a["region"] in regions,
        lambda a, p: len(a["items"]) > big,
        lambda a, p: f"--no-verify-{n}" in a["cmd"],
        lambda a, p: a["path"].endswith(f".key{n}"),
        lambda a, p: p.risk.environment == "production" and a["count"] > big,
        lambda a, p: a["user"].lower() == f"root{n}",
    ]


def floor_rules() -> dict[str, list[tuple[str, Predicate]]]:
    """Per tool, (rule id, predicate) in document order, as the artifact has them."""
    tools: dict[str, list[tuple[str, Predicate]]] = {}
    for t in range(TOOLS):
        shapes = _shapes(0, 0)[:0]
        for r in range(RULES_PER_TOOL):
            shapes.append(_shapes(t * RULES_PER_TOOL + r, 900 + r)[r])
        tools[f"svc{t}.call"] = [(f"t{t}.r{r}", f) for r, f in enumerate(shapes)]
    for g in range(GLOB_RULES):
        marker = f"m{g}"
        for tool, rules in tools.items():
            if fnmatch.fnmatchcase(tool, f"svc{g}*.call"):
                rules.append(
                    (f"glob{g}", lambda a, p, m=marker: "marker" in a and a["marker"] == m)
                )
    return tools


def floor_decider(rules: dict[str, list[tuple[str, Predicate]]]) -> Callable[[Proposal], Any]:
    """The floor: parse the arguments, run the tool's predicates, list the matching ids."""
    loads = json.loads

    def decide(proposal: Proposal) -> list[str]:
        arguments = loads(proposal.arguments)
        return [i for i, f in rules[proposal.tool] if f(arguments, proposal)]

    return decide


def rego_policy() -> str:
    """The synthetic rules in Rego (v1), one partial set of matched rule ids."""
    lines = ["package bench", "", "import rego.v1", ""]
    for t in range(TOOLS):
        for r in range(RULES_PER_TOOL):
            n, big = t * RULES_PER_TOOL + r, 900 + r
            body = _rego_shape(r, n, big)
            lines.append(
                f'matched contains "t{t}.r{r}" if {{ input.tool == "svc{t}.call"; {body} }}'
            )
    for g in range(GLOB_RULES):
        lines.append(
            f'matched contains "glob{g}" if {{ glob.match("svc{g}*.call", [], input.tool); '
            f'input.args.marker == "m{g}" }}'
        )
    lines.append("")
    lines.append("decisions := [m | some x in input.items; m := matched with input as x]")
    return "\n".join(lines) + "\n"


def _rego_shape(r: int, n: int, big: int) -> str:
    a = "input.args"
    return [
        f"regex.match(`rm\\s+-[a-z]*r{n}`, {a}.cmd)",
        f'startswith({a}.path, "/etc/{n}")',
        f"{a}.count > {big}",
        f'{a}.force == true; {a}.target == "prod-{n}"',
        f'{a}.region in {{"xx-{n}", "yy-{n}", "zz-{n}"}}',
        f"count({a}.items) > {big}",
        f'contains({a}.cmd, "--no-verify-{n}")',
        f'endswith({a}.path, ".key{n}")',
        f'input.risk.environment == "production"; {a}.count > {big}',
        f'lower({a}.user) == "root{n}"',
    ][r]


def opa_binary(name: str = "opa") -> str | None:
    built = OPA_DIR / "bin" / name
    return str(built) if built.exists() else shutil.which(name)


def _input(proposal: Proposal) -> dict[str, Any]:
    risk = {"environment": proposal.risk.environment}
    return {"tool": proposal.tool, "args": json.loads(proposal.arguments), "risk": risk}


def opa_rate(proposals: list[Proposal], rounds: int = 2) -> dict[str, Any]:
    """OPA on these proposals, one decision at a time: ``opa-driver`` (a prepared query, each
    proposal's JSON decoded then evaluated, as an embedding service would); without it ``opa
    bench`` on a batch; or why OPA was not run."""
    driver = opa_binary("opa-driver")
    if driver is None:
        return opa_bench_rate(proposals)
    with tempfile.TemporaryDirectory() as folder:
        policy, inputs = Path(folder, "bench.rego"), Path(folder, "inputs.jsonl")
        policy.write_text(rego_policy())
        inputs.write_text("".join(json.dumps(_input(p)) + "\n" for p in proposals))
        command = [driver, str(policy), str(inputs), str(rounds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        return {"ran": False, "why": f"opa-driver failed: {done.stderr.strip()[:300]}"}
    found = json.loads(done.stdout)
    return {
        "ran": True,
        "how": "opa-driver: prepared query, JSON decoded and evaluated per decision",
        "decisions": found["decisions"],
        "decisions_per_s": round(found["decisions_per_s"]),
        "p50_us": round(found["p50_us"], 2),
        "p99_us": round(found["p99_us"], 2),
    }


def opa_bench_rate(proposals: list[Proposal], batch: int = 1000) -> dict[str, Any]:
    """``opa bench`` of one query deciding a batch of proposals (each ``with input as``)."""
    binary = opa_binary()
    if binary is None:
        return {"ran": False, "why": "no opa binary (benchmarks/opa/build.sh builds one)"}
    items = [_input(p) for p in proposals[:batch]]
    with tempfile.TemporaryDirectory() as folder:
        policy, data = Path(folder, "bench.rego"), Path(folder, "input.json")
        policy.write_text(rego_policy())
        data.write_text(json.dumps({"items": items}))
        command = [binary, "bench", "-d", str(policy), "-i", str(data), "--format", "json"]
        command += ["--count", "3", "data.bench.decisions"]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        return {"ran": False, "why": f"opa bench failed: {done.stderr.strip()[:300]}"}
    runs = [json.loads(chunk) for chunk in _json_objects(done.stdout)]
    per_op = sorted(float(run["T"]) / float(run["N"]) for run in runs)
    median_ns = per_op[len(per_op) // 2]
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return {
        "ran": True,
        "how": "opa bench: one query over a batch, each proposal with `with input as`",
        "version": version.stdout.splitlines()[0] if version.stdout else "",
        "batch": len(items),
        "decisions_per_s": round(len(items) / (median_ns / 1e9)),
        "us_per_decision": round(median_ns / 1000 / len(items), 2),
    }


def _json_objects(text: str) -> list[str]:
    decoder = json.JSONDecoder()
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        _, end = decoder.raw_decode(text, position)
        found.append(text[position:end])
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return found
