"""vLLM's clean-up of its distributed state and GPU memory, recorded."""


def cleanup_dist_env_and_memory():
    from vllm import EVENTS

    EVENTS.append(("cleanup",))
