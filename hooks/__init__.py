"""Scripts that copier's ``_tasks`` and ``_migrations`` run in a rendered project.

Each module is a self-contained script: copier runs it by path with its own interpreter
(``_copier_python``), so the scripts use only the standard library and never import each other.
The package exists so the template's tests can import the functions they unit-test.
"""
