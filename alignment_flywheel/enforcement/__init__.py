"""The enforcement layer: an explicit risk policy turns oracle signals into verdicts."""

from alignment_flywheel.enforcement.enforcer import Enforcer, TimeoutOracle, build_enforcer
from alignment_flywheel.enforcement.policy import RiskPolicy, build_policy, load_policy
from alignment_flywheel.enforcement.verdict import Verdict, verdict_event
from alignment_flywheel.oracle.contract import UnknownToolError

__all__ = [
    "Enforcer",
    "RiskPolicy",
    "TimeoutOracle",
    "UnknownToolError",
    "Verdict",
    "build_enforcer",
    "build_policy",
    "load_policy",
    "verdict_event",
]
