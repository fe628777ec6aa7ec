"""Training mode: a simulated xCAT HAMN pair with DB2 HADR, behind the same Transport as SSH.

`training.Training(scenario, seed=…)` is the simulated cluster, its virtual clock and its fault
triggers; `app.targets.TrainingTarget` runs runbooks and reads status on it.
"""
