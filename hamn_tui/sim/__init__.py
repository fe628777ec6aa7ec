"""Training mode: a simulated xCAT HAMN pair with DB2 HADR, behind the same Transport as SSH.

`session.Training(scenario, seed=…)` gives a run everything it needs (transport, probes, virtual
sleep and clock, fault triggers); see that module for how `hamn run` / `hamn status` use it.
"""
