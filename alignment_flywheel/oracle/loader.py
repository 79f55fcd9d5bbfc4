"""Where the oracle artifact and the risk policy come from: the settings, or the shipped defaults
in ``policies/`` (package data)."""

from __future__ import annotations

from pathlib import Path

from alignment_flywheel.config import Settings
from alignment_flywheel.oracle.artifact import load_artifact
from alignment_flywheel.oracle.rules import RuleOracle
from alignment_flywheel.resources import POLICIES_DIR

DEFAULT_ORACLE = POLICIES_DIR / "oracle.yaml"
DEFAULT_RISK_POLICY = POLICIES_DIR / "risk-policy.yaml"


def oracle_path(settings: Settings) -> Path:
    return settings.oracle_path or DEFAULT_ORACLE


def risk_policy_path(settings: Settings) -> Path:
    return settings.risk_policy_path or DEFAULT_RISK_POLICY


def load_oracle(settings: Settings) -> RuleOracle:
    """The rule oracle of the artifact the settings name."""
    return RuleOracle(load_artifact(oracle_path(settings)))
