"""Validation suite: drives a real httpd with an open-loop generator and compares with capplan.

Stages: `casefile` (the YAML files under `cases/`) → `harness` (config, processes, samplers; the
`backend` and `loadgen` run as child processes) → `measure` (batch-means estimates) → `predict`
(capplan's models at the realized load) → `compare` (acceptance bands) → `report` (markdown) →
`run` (command line: `python -m bench.validate.run`).
"""
