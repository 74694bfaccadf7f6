"""The model catalogue (models.yaml beside this file): models, precisions, GPU architectures, engine budget."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.spec.yamlsource import load_yaml

CATALOGUE_FILE = Path(__file__).with_name("models.yaml")
Architecture = Literal["volta", "turing", "ampere", "ada", "hopper"]
PrecisionName = Literal["bf16", "fp8", "fp8-w8a16", "int8", "int4-awq"]
PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "fp8-w8a16", "int8", "int4-awq")
Checkpoint = Literal["none", "int8", "awq", "fp8"]
"""A checkpoint's weight format, as the spec's serving.model.quantization names it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Model(_Strict):
    name: str
    hf_repo: str = Field(description="Hugging Face repository id of the published weights.")
    parameters: int = Field(gt=0, description="Weights the engine loads.")
    moe: bool = Field(description="Mixture-of-Experts.")
    attention: Literal["mla", "gqa"]
    layers: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    kv_lora_rank: int | None = Field(None, gt=0, description="MLA only: the compressed KV latent per token.")
    qk_rope_head_dim: int | None = Field(None, gt=0, description="MLA only: the decoupled RoPE key per token.")
    hidden_size: int = Field(gt=0)
    intermediate_size: int | None = Field(None, gt=0, description="Dense models: the SwiGLU MLP width.")
    vocab_size: int = Field(gt=0)
    qkv_bias: bool = False
    tie_word_embeddings: bool
    max_position_embeddings: int = Field(gt=0)
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _mla_dims(self) -> Model:
        if (self.attention == "mla") != (self.kv_lora_rank is not None and self.qk_rope_head_dim is not None):
            raise ValueError(f"{self.name}: kv_lora_rank and qk_rope_head_dim are given exactly for MLA models")
        return self

    @property
    def unquantized_parameters(self) -> int:
        """Embeddings and lm_head: 16-bit in every quantized checkpoint."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)


class Precision(_Strict):
    name: str
    checkpoint: Checkpoint = Field(description="The weight format of a checkpoint the engine runs this way.")
    bytes_per_weight: float = Field(gt=0)
    architectures: list[Architecture] = Field(min_length=1)
    what: str
    moe_caveat: str | None = None
    sources: list[str] = Field(min_length=1)


class GpuArchitecture(_Strict):
    architecture: Architecture
    compute_capability: str


class Engine(_Strict):
    gpu_memory_utilization: float = Field(gt=0, le=1)
    kv_cache_bytes_per_element: int = Field(gt=0)
    sources: list[str] = Field(min_length=1)


class Catalogue(_Strict):
    models: dict[str, Model]
    precisions: dict[str, Precision]
    gpu_architectures: dict[str, GpuArchitecture]
    gpu_architecture_sources: list[str] = Field(min_length=1)
    engine: Engine

    def resolve(self, served_name: str) -> str | None:
        """The catalogue model a served model name stands for: its Hugging Face id, or the longest catalogue
        name that its last path component (lower-cased) is, or starts with followed by `-` (so
        `deepseek-ai/DeepSeek-R1-AWQ` is `deepseek-r1`); None when no model matches."""
        for name, model in self.models.items():
            if model.hf_repo.lower() == served_name.lower():
                return name
        base = served_name.rsplit("/", 1)[-1].lower()
        matches = [n for n in self.models if base == n or base.startswith(n + "-")]
        return max(matches, key=len) if matches else None


@cache
def catalogue() -> Catalogue:
    data, _ = load_yaml(CATALOGUE_FILE, "components/capacity/models.yaml")
    return Catalogue.model_validate({
        **data,
        "models": {name: {"name": name, **entry} for name, entry in data["models"].items()},
        "precisions": {name: {"name": name, **entry} for name, entry in data["precisions"].items()},
    })
