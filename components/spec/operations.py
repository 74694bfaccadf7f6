"""How changes roll out, where the DR site is, how long data is kept, and what is served."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.spec.base import Name, SpecModel
from components.spec.inference import InferencePlatform
from components.spec.release import Release


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
    catalogue_model: str | None = Field(
        None, description="The model in the capacity planner's catalogue (components/capacity/models.yaml, e.g. "
                          "deepseek-r1); null: derived from `name` (its Hugging Face id, or its last part naming a "
                          "catalogue model, e.g. DeepSeek-R1-AWQ is deepseek-r1); a model outside the catalogue is "
                          "not planned.")


class Serving(SpecModel):
    engine: Literal["vllm", "sglang"] = Field("vllm", description="Inference engine.")
    image: str = Field(description="Engine container image with tag or digest.")
    model: ServedModel = Field(description="The model served and where its weights are.")
    tensor_parallel_size: int = Field(ge=1, description="GPUs per pipeline stage; at most the GPUs of one serving "
                                                        "node, dividing the model's attention heads.")
    max_model_len: int = Field(gt=0, description="Context length in tokens, prompt and output (vLLM --max-model-len, "
                                                 "the article's maximum sequence length: 256 to 2048 for short "
                                                 "requests); at most max_position_embeddings.")
    precision: Literal["bf16", "fp8", "fp8-w8a16", "int8", "int4-awq"] | None = Field(
        None, description="How the engine holds and multiplies the weights: bf16, fp8 (FP8 compute, Ada/Hopper "
                          "only), fp8-w8a16 (FP8 weights, 16-bit compute), int8 (W8A8), int4-awq; null: from "
                          "model.quantization (none bf16, int8 int8, awq int4-awq, fp8 fp8).")
    pipeline_parallel_size: int = Field(1, ge=1, description="Pipeline stages (vLLM --pipeline-parallel-size), "
                                                             "usually one per node; GPUs per replica = "
                                                             "tensor_parallel_size × pipeline_parallel_size.")
    max_num_seqs: int | None = Field(None, ge=1, description="Sequences the engine batches at once (vLLM "
                                                             "--max-num-seqs; the article's batch size, 16 to 128); "
                                                             "null: the engine's default.")
    concurrency: int = Field(1, ge=1, description="Full-length (max_model_len) sequences whose KV cache must fit "
                                                  "at once; validate plans for it (vLLM itself refuses to start "
                                                  "unless one fits).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Fraction of each GPU's memory the engine "
                                                                       "may use (vLLM --gpu-memory-utilization, "
                                                                       "default 0.9); the rest is runtime headroom.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the OpenAI-compatible API.")
    release: Release | None = Field(None, description="Blue-green releases: the active one, a candidate beside it, "
                                                      "the soak and SLO before a promotion (docs/release.md).")
    platform: InferencePlatform = Field(default_factory=InferencePlatform, description="Kubernetes side of serving: "
                                        "namespace, chart mirror, identity-provider groups, ingress, audit topics, "
                                        "KMS key (docs/inference.md).")
