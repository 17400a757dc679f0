# Package marker so the templates ship inside the wheel as mipo_bench.judges (see pyproject.toml).
