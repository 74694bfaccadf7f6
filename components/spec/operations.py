"""How changes roll out, where the DR site is, how long data is kept, and what is served."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel


class Rollout(SpecModel):
    wave_size: int = Field(1, ge=1, description="Nodes provisioned together in one wave.")
    max_unavailable: int = Field(1, ge=1, description="Nodes that may be out of service at once.")
    health_gate: bool = Field(True, description="Run the acceptance play between waves.")


class DrSite(SpecModel):
    name: Name = Field(description="DR site name.")
    location: str = Field(description="Where it is, for people.")
    latency_ms: float = Field(gt=0, description="Measured round-trip latency to the DR site.")
    mode: Literal["active-active", "active-standby"] = Field("active-active", description="How the DR site serves.")


class Retention(SpecModel):
    data_days: int = Field(90, ge=1, description="Delete ordinary data after this many days.")
    important_data_days: int = Field(180, ge=1, description="Keep data tagged important this long.")
    important_tags: list[str] = Field(default_factory=lambda: ["important"], description="Export tags that mark "
                                                                                      "data as important.")
    audit_log_days: int = Field(180, ge=1, description="Keep audit records at least this long.")


class ServedModel(SpecModel):
    name: str = Field(description="Model name as the API serves it (e.g. deepseek-ai/DeepSeek-R1).")
    export: str = Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$", description="`ARRAY/EXPORT` holding the weights.")
    path: str = Field(description="Directory of the weights inside the export.")
    max_position_embeddings: int = Field(gt=0, description="From the model's config.json.")
    quantization: Literal["none", "int8", "awq", "fp8"] = Field("none", description="Weight quantization.")


class Serving(SpecModel):
    engine: Literal["vllm", "sglang"] = Field("vllm", description="Inference engine.")
    image: str = Field(description="Engine container image with tag or digest.")
    model: ServedModel = Field(description="The model served and where its weights are.")
    tensor_parallel_size: int = Field(ge=1, description="GPUs per engine; at most the GPUs of one serving node.")
    max_model_len: int = Field(gt=0, description="Context length; at most max_position_embeddings.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the OpenAI-compatible API.")
