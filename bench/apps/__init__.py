"""Reference apps the rendered service is compared with, and the per-middleware driver.

They run in the rendered project's venv, with the template repository's root on ``sys.path``.
"""
