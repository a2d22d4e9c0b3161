"""Reference apps the rendered service is compared with; they run in the rendered project's venv."""
