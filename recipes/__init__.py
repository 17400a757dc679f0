# Package marker so the YAML ships inside the wheel as mipo_bench.recipes (see pyproject.toml).
