"""The sandbox's resource limits per run: their defaults and the bounds an assignment may set them within. One
place for the grader (sandbox/), the API's validation and the seed data. No imports: the sandbox's own processes
load it."""

DEFAULT_LIMITS: dict[str, float] = {
    "cpu_seconds": 2.0,
    "wall_seconds": 5.0,
    "memory_mb": 256,
    "output_kb": 256,
}

# name: (lowest, highest) an assignment may ask for
LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "cpu_seconds": (0.1, 30),
    "wall_seconds": (0.5, 60),
    "memory_mb": (32, 2048),
    "output_kb": (1, 16384),
}
