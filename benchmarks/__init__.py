"""Benchmarks: scripts that print a table and record it in `RESULTS.md` with the exact command.

They measure automm's parts one at a time (a thread rule, a loader, the linear candidate, a sampler's
state), so they import the layer modules they measure by name (``automm.engine.training``, ...), not only
the public `automm` names the examples keep to.
"""
