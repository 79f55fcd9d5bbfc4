"""The `flywheel demo` scenario: simulated proposers, the run's progress, its summary and ledger.

Modules: :mod:`.proposers` (three agents and their calls), :mod:`.scenario` (the phases),
:mod:`.progress` (counters and the governance-event watch), :mod:`.summary` (live view, tables,
JSON), :mod:`.ledger` (verification of the run's audit ledger). The command is in
:mod:`alignment_flywheel.cli.demo`, the stack it starts in
:mod:`alignment_flywheel.cli.demo_runtime`.
"""
