"""The governance stack for the end-to-end test (see ``alignment_flywheel.stack.fleet``)."""

from alignment_flywheel.stack.fleet import GovernanceStack as Stack
from alignment_flywheel.stack.fleet import governance_settings

__all__ = ["Stack", "governance_settings"]
