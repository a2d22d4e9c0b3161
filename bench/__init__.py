"""Benchmark of the rendered service against a plain FastAPI app.

The package is split so that the parts that run *inside the rendered project's virtualenv*
(``bench.apps``, ``bench.inprocess``, ``bench.coldstart``) import nothing but the standard
library and what that venv already has, while the orchestrator (``python -m bench``) needs only
copier. Keep this module import-free: every venv-side subprocess imports it first.
"""
