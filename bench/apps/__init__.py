"""Reference apps the rendered service is compared with; they run in the rendered project's venv.

Names shared with the orchestrator live here, because the orchestrator cannot import the apps
themselves (it has no FastAPI).
"""

ABLATION_TARGET = "bench.apps.ablation:create_app"
SERVICE_TARGET_ENV = "BENCH_SERVICE_TARGET"  # the service's module:factory
DROP_ENV = "BENCH_DROP_MIDDLEWARE"  # comma-separated middleware class names, or DROP_ALL
DROP_ALL = "*"
