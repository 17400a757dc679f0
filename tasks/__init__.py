# Package marker so the YAML ships inside the wheel as mipo_bench.tasks (see pyproject.toml).
