"""Replay: historical proposals re-evaluated under any oracle, diffed against recorded verdicts.

:mod:`.engine` is the pure core (memoised evaluation and the verdict diff), :mod:`.source` reads a
range of the log, :mod:`.oracles` resolves the oracle to replay with, :mod:`.report` renders it.
"""
