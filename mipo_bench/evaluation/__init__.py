"""The lm-eval integration: running the harness, the tasks' hooks, and the paper's batched re-ask pass."""
