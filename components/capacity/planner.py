"""The capacity planner: does a model at a precision fit a SKU's GPUs, with which tensor × pipeline layout.

Per GPU of a layout TP × PP (docs/capacity.md has the method and every fact's source):

- weights = (quantized weights × bytes per weight + embeddings and lm_head × 2 bytes) / (TP × PP);
- KV cache = tokens × bytes per token, tokens = max_model_len × concurrency, and per token, over the
  ceil(layers / PP) layers of the largest pipeline stage:
  MLA (DeepSeek-V3/R1): layers × (kv_lora_rank + qk_rope_head_dim) elements, the same on every TP rank;
  GQA (the distilled models): 2 × layers × max(1, kv_heads // TP) × head_dim elements;
- the two together within gpu_memory_utilization (vLLM's default 0.9) of the GPU's memory; the rest is
  the runtime's headroom (CUDA context, NCCL buffers, CUDA graphs).

Layouts: TP a power of two dividing the attention heads, PP a power of two up to the layers, GPUs = TP × PP
on ceil(GPUs / GPUs per node) nodes. The smallest layout is the one with the fewest GPUs; among equals, TP
spans one node's GPUs and PP the nodes (vLLM's advice for multi-node serving), then the larger TP.
Pure: no I/O beyond reading the packaged catalogue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from components.capacity.catalogue import Catalogue, Model, Precision, catalogue
from components.spec.catalogue_models import Sku

GIB = 1024 ** 3
DEFAULT_MAX_NODES = 8
"""The largest replica `podforge capacity` considers unless told otherwise (`--max-nodes`)."""


class CapacityInputError(ValueError):
    """A model, precision, SKU or size the planner cannot take: bad input, nothing was planned."""


@dataclass(frozen=True)
class Layout:
    tensor_parallel: int
    pipeline_parallel: int

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    def nodes(self, gpus_per_node: int) -> int:
        return math.ceil(self.gpus / gpus_per_node)

    def __str__(self) -> str:
        return f"TP{self.tensor_parallel}×PP{self.pipeline_parallel}"


@dataclass(frozen=True)
class Plan:
    """One layout's memory per GPU, or a refusal. `fits` False with TP 0 means no layout was tried (the SKU
    cannot run the precision); otherwise the layout is the one that fits, or the largest one tried."""

    model: str
    precision: str
    sku: str
    fits: bool
    tensor_parallel: int
    pipeline_parallel: int
    nodes_per_replica: int
    weights_gib_per_gpu: float
    kv_gib_per_gpu: float
    budget_gib_per_gpu: float
    reason: str

    @property
    def shortfall_gib(self) -> float:
        """GiB per GPU missing for this layout (0 when it fits)."""
        return max(0.0, self.weights_gib_per_gpu + self.kv_gib_per_gpu - self.budget_gib_per_gpu)

    def as_json(self) -> dict[str, Any]:
        """The `podforge capacity --json` object, exactly these keys."""
        return {"fits": self.fits, "nodes_per_replica": self.nodes_per_replica,
                "tensor_parallel": self.tensor_parallel, "pipeline_parallel": self.pipeline_parallel,
                "weights_gib_per_gpu": round(self.weights_gib_per_gpu, 2),
                "kv_gib_per_gpu": round(self.kv_gib_per_gpu, 2), "reason": self.reason}


@dataclass(frozen=True)
class Request:
    """What is asked: a catalogue model at a precision on a SKU, with context length and concurrency."""

    model: Model
    precision: Precision
    sku: Sku
    max_model_len: int
    concurrency: int = 1
    gpu_memory_utilization: float | None = None

    @property
    def tokens(self) -> int:
        return self.max_model_len * self.concurrency


def request(model: str, precision: str, sku: Sku, max_model_len: int | None = None, concurrency: int = 1,
            gpu_memory_utilization: float | None = None, cat: Catalogue | None = None) -> Request:
    """Look the names up; raise CapacityInputError naming what is wrong and what would be right."""
    cat = cat or catalogue()
    if model not in cat.models:
        raise CapacityInputError(f"unknown model {model!r}; the catalogue has {', '.join(cat.models)}")
    if precision not in cat.precisions:
        raise CapacityInputError(f"unknown precision {precision!r}; one of {', '.join(cat.precisions)}")
    m = cat.models[model]
    length = m.max_position_embeddings if max_model_len is None else max_model_len
    if not 1 <= length <= m.max_position_embeddings:
        raise CapacityInputError(f"max model length {length} is outside 1..{m.max_position_embeddings} "
                                 f"({model}'s max_position_embeddings)")
    if concurrency < 1:
        raise CapacityInputError(f"concurrency {concurrency} must be at least 1")
    if gpu_memory_utilization is not None and not 0 < gpu_memory_utilization <= 1:
        raise CapacityInputError(f"gpu_memory_utilization {gpu_memory_utilization} must be in (0, 1]")
    return Request(m, cat.precisions[precision], sku, length, concurrency, gpu_memory_utilization)


def architecture(sku: Sku, cat: Catalogue | None = None) -> str | None:
    """The GPU architecture of a SKU (ampere, hopper, …), None for a GPU the catalogue does not know."""
    known = (cat or catalogue()).gpu_architectures.get(sku.gpu.model)
    return known.architecture if known else None


def runnable(req: Request, cat: Catalogue | None = None) -> str | None:
    """Why the SKU's GPUs cannot run the precision, or None when they can."""
    cat = cat or catalogue()
    gpu = req.sku.gpu.model
    arch = cat.gpu_architectures.get(gpu)
    if arch is None:
        return (f"{gpu} is not in the planner's GPU architectures ({', '.join(cat.gpu_architectures)}); "
                "its precisions cannot be checked")
    if arch.architecture in req.precision.architectures:
        return None
    others = [p.name for p in cat.precisions.values() if arch.architecture in p.architectures]
    return (f"{req.precision.name} ({req.precision.what}) needs {_either(req.precision.architectures)} GPUs; "
            f"{gpu} is {arch.architecture.capitalize()} (compute capability {arch.compute_capability}): "
            f"use one of {', '.join(others)}")


def _either(architectures: list[str]) -> str:
    names = [a.capitalize() for a in architectures]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def weights_bytes(model: Model, precision: Precision) -> float:
    """All the weights the engine loads, in bytes."""
    plain = model.unquantized_parameters
    return (model.parameters - plain) * precision.bytes_per_weight + plain * 2.0


def kv_bytes_per_token(model: Model, layout: Layout, element_bytes: int) -> int:
    """KV cache of one token on one GPU of the layout's largest pipeline stage."""
    layers = math.ceil(model.layers / layout.pipeline_parallel)
    if model.attention == "mla":
        assert model.kv_lora_rank is not None and model.qk_rope_head_dim is not None
        return layers * (model.kv_lora_rank + model.qk_rope_head_dim) * element_bytes
    heads = max(1, model.kv_heads // layout.tensor_parallel)
    return 2 * layers * heads * model.head_dim * element_bytes


def tensor_parallel_problem(model: Model, tp: int) -> str | None:
    """Why vLLM cannot split this model's attention over `tp` GPUs, or None."""
    if model.attention_heads % tp:
        return f"a tensor-parallel size dividing {model.name}'s {model.attention_heads} attention heads"
    if model.attention == "gqa" and model.kv_heads % tp and tp % model.kv_heads:
        return (f"a tensor-parallel size that divides, or is a multiple of, {model.name}'s {model.kv_heads} "
                "KV heads")
    return None


def layouts(model: Model, gpus_per_node: int, max_nodes: int) -> list[Layout]:
    """Every candidate layout up to `max_nodes` nodes, smallest first."""
    limit = gpus_per_node * max_nodes
    powers = [2 ** k for k in range(limit.bit_length()) if 2 ** k <= limit]
    found = [Layout(tp, pp) for tp in powers for pp in powers
             if tp * pp <= limit and pp <= model.layers and tensor_parallel_problem(model, tp) is None]
    return sorted(found, key=lambda lay: (lay.gpus, lay.tensor_parallel != min(lay.gpus, gpus_per_node),
                                          -lay.tensor_parallel))


def evaluate(req: Request, layout: Layout, cat: Catalogue | None = None) -> Plan:
    """The memory one GPU of `layout` needs, and whether it fits (the SKU's precision support aside)."""
    cat = cat or catalogue()
    utilization = req.gpu_memory_utilization or cat.engine.gpu_memory_utilization
    budget = req.sku.gpu.memory_gib * utilization
    weights = weights_bytes(req.model, req.precision) / layout.gpus / GIB
    kv = req.tokens * kv_bytes_per_token(req.model, layout, cat.engine.kv_cache_bytes_per_element) / GIB
    fits = weights + kv <= budget
    nodes = layout.nodes(req.sku.gpu.count)
    where = (f"{layout} on {nodes} {req.sku.name} node{'s' if nodes > 1 else ''}: {weights:.1f} GiB weights + "
             f"{kv:.1f} GiB KV cache ({req.tokens} tokens) per GPU")
    if fits:
        reason = f"fits: {where} within {budget:.1f} GiB ({utilization:g} of {req.sku.gpu.memory_gib} GiB)"
    else:
        reason = (f"does not fit: {where} exceed {budget:.1f} GiB ({utilization:g} of {req.sku.gpu.memory_gib} "
                  f"GiB) by {weights + kv - budget:.1f} GiB")
    caveat = req.precision.moe_caveat if req.model.moe and architecture(req.sku, cat) == "ampere" else None
    if fits and caveat:
        reason += f"; note: {caveat}"
    return Plan(req.model.name, req.precision.name, req.sku.name, fits, layout.tensor_parallel,
                layout.pipeline_parallel, nodes, weights, kv, budget, reason)


def plan(req: Request, max_nodes: int = DEFAULT_MAX_NODES, cat: Catalogue | None = None) -> Plan:
    """The smallest layout that fits within `max_nodes` nodes; else the largest one tried, with its shortfall;
    or a refusal when the SKU's GPUs cannot run the precision."""
    cat = cat or catalogue()
    if max_nodes < 1:
        raise CapacityInputError(f"max nodes {max_nodes} must be at least 1")
    refusal = runnable(req, cat)
    if refusal is not None:
        return Plan(req.model.name, req.precision.name, req.sku.name, False, 0, 0, 0, 0.0, 0.0,
                    req.sku.gpu.memory_gib * (req.gpu_memory_utilization or cat.engine.gpu_memory_utilization),
                    f"refused: {refusal}")
    candidates = layouts(req.model, req.sku.gpu.count, max_nodes)
    tried = [evaluate(req, layout, cat) for layout in candidates]
    for result in tried:
        if result.fits:
            return result
    # The closest is the largest replica, in the order of preference (TP within a node, PP across nodes).
    most = max(layout.gpus for layout in candidates)
    best = next(p for p, layout in zip(tried, candidates, strict=True) if layout.gpus == most)
    nodes = "node" if max_nodes == 1 else f"{max_nodes} nodes"
    on = f"{best.nodes_per_replica} node{'s' if best.nodes_per_replica > 1 else ''}"
    reason = (f"does not fit on up to {nodes} of {req.sku.name}: the largest layout, TP{best.tensor_parallel}×"
              f"PP{best.pipeline_parallel} on {on}, needs {best.weights_gib_per_gpu:.1f} GiB "
              f"weights + {best.kv_gib_per_gpu:.1f} GiB KV cache per GPU of {best.budget_gib_per_gpu:.1f} GiB: "
              f"short by {best.shortfall_gib:.1f} GiB per GPU")
    return Plan(best.model, best.precision, best.sku, False, best.tensor_parallel, best.pipeline_parallel,
                best.nodes_per_replica, best.weights_gib_per_gpu, best.kv_gib_per_gpu, best.budget_gib_per_gpu,
                reason)
