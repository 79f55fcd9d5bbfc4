"""Synthetic rule sets and traffic, for benchmarks and load tests.

The artifact has ``rules_per_tool`` rules on each tool ``svc<N>.call`` (regular expressions,
prefixes, numeric bounds, ``has`` and ``in`` tests, sizes, a case-folded comparison, one rule that
reads the risk context) plus rules on tool globs. The proposals spread over those tools and over
risk contexts that select every tier of the default risk policy. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from alignment_flywheel.events import BlastRadius, Proposal, RiskContext

TOOLS = 100
RULES_PER_TOOL = 10
GLOB_RULES = 20

RULE_SHAPES = [
    'args.cmd.matches("rm\\\\s+-[a-z]*r{n}")',
    'args.path.startsWith("/etc/{n}")',
    "args.count > {big}",
    'has(args.force) && args.force == true && args.target == "prod-{n}"',
    'args.region in ["xx-{n}", "yy-{n}", "zz-{n}"]',
    "size(args.items) > {big}",
    'args.cmd.contains("--no-verify-{n}")',
    'args.path.endsWith(".key{n}")',
    'risk.environment == "production" && args.count > {big}',
    'args.user.lowerAscii() == "root{n}"',
]


def synthetic_artifact(
    tools: int = TOOLS, rules_per_tool: int = RULES_PER_TOOL, glob_rules: int = GLOB_RULES
) -> dict[str, Any]:
    """An artifact document: ``rules_per_tool`` rules on each ``svc<N>.call`` plus glob rules."""
    rules = []
    for t in range(tools):
        for r, shape in enumerate(RULE_SHAPES[:rules_per_tool]):
            when = shape.format(n=t * rules_per_tool + r, big=900 + r)
            rule_id = f"t{t}.r{r}"
            rules.append(
                {
                    "id": rule_id,
                    "tools": [f"svc{t}.call"],
                    "when": when,
                    "score": 0.1,
                    "message": rule_id,
                }
            )
    for g in range(glob_rules):
        when = f'has(args.marker) && args.marker == "m{g}"'
        rule_id = f"glob{g}"
        rules.append(
            {
                "id": rule_id,
                "tools": [f"svc{g}*.call"],
                "when": when,
                "score": 0.2,
                "message": rule_id,
            }
        )
    return {"name": "bench", "version": 1, "rules": rules}


def synthetic_proposals(count: int, seed: int = 0, tools: int = TOOLS) -> list[Proposal]:
    """Proposals over the synthetic tools and over risk contexts of every tier."""
    rng = random.Random(seed)
    environments = ["production", "staging", "dev"]
    radii = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    made = []
    for i in range(count):
        arguments = {
            "cmd": f"tail -n {i % 500} /var/log/app.log" if i % 50 else "rm -rf /tmp/x",
            "path": f"/srv/data/{i % 97}.json",
            "count": rng.randrange(1000),
            "region": rng.choice(["eu-1", "us-2", "ap-3"]),
            "items": list(range(i % 7)),
            "target": "prod-1",
            "user": "svc",
        }
        risk = RiskContext(
            proposer_confidence=rng.random(),
            blast_radius=BlastRadius(rng.choice(radii)),
            environment=rng.choice(environments),
        )
        made.append(
            Proposal(
                proposal_id=uuid.uuid4(),
                proposer_id=f"agent-{i % 16}",
                session_id=f"s-{i % 64}",
                tool=f"svc{rng.randrange(tools)}.call",
                arguments=json.dumps(arguments),
                risk=risk,
            )
        )
    return made
