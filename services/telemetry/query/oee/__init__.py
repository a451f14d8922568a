"""OEE of a machine or a line, in named stages.

- `facts`: collect what the MES knows (targets, state time in planned time, counts);
- `attribution` and `ideal`: which order and operation each count belongs to, and the
  routing standard (SG2) that gives its ideal time (`standards`);
- `aggregate`: per-machine totals, a line's sum and the capped ratios;
- `present`: the answer as the API gives it;
- `service`: the route's function, running the stages in that order.
"""
