"""The spec check that runs the planner on the `serving` section: `podforge validate` refuses a layout that
does not fit its serving nodes' GPUs, naming the shortfall in GiB.

Registered with components.spec.checks' rules through `needs`; components.spec.checks imports this module at its
end, so every loader of a spec runs it (the `podforge` command and the Pulumi program alike).
"""

from __future__ import annotations

from collections.abc import Iterator

from components.capacity.catalogue import catalogue
from components.capacity.planner import Layout, evaluate, plan, request, runnable, tensor_parallel_problem
from components.spec.catalogue_models import Sku
from components.spec.checks import Finding, needs, serving_nodes
from components.spec.cluster import ClusterSpec
from components.spec.operations import Serving

PRECISION_OF_CHECKPOINT = {"none": "bf16", "int8": "int8", "awq": "int4-awq", "fp8": "fp8"}
"""The precision a serving section means when it names none: how its checkpoint's weights run by default."""


def precision_of(serving: Serving) -> str:
    return serving.precision or PRECISION_OF_CHECKPOINT[serving.model.quantization]


def catalogue_model_of(serving: Serving) -> str | None:
    """The catalogue model the section serves: `model.catalogue_model`, else the one its name stands for."""
    return serving.model.catalogue_model or catalogue().resolve(serving.model.name)


@needs("serving", "nodes", "catalogue")
def serving_capacity(spec: ClusterSpec, skus: dict[str, Sku]) -> Iterator[Finding]:
    serving = spec.serving
    if serving is None:
        return
    cat = catalogue()
    base = ("serving",)
    if serving.max_num_seqs is not None and serving.max_num_seqs < serving.concurrency:
        yield (base + ("max_num_seqs",), serving.max_num_seqs,
               f"at least concurrency ({serving.concurrency}): the engine batches no more sequences than this")
    explicit = serving.model.catalogue_model
    if explicit is not None and explicit not in cat.models:
        yield base + ("model", "catalogue_model"), explicit, f"a model of the capacity catalogue ({', '.join(cat.models)})"
        return
    name = catalogue_model_of(serving)
    if name is None:
        return  # a model outside the catalogue is not planned (docs/capacity.md)
    model = cat.models[name]
    precision = precision_of(serving)
    checkpoint = cat.precisions[precision].checkpoint
    if checkpoint != serving.model.quantization:
        yield (base + ("precision",), precision,
               f"a precision a {serving.model.quantization!r} checkpoint runs at "
               f"({', '.join(p for p, e in cat.precisions.items() if e.checkpoint == serving.model.quantization)}), "
               "or the model.quantization of the weights the export holds")
        return
    if serving.model.max_position_embeddings != model.max_position_embeddings:
        yield (base + ("model", "max_position_embeddings"), serving.model.max_position_embeddings,
               f"{model.max_position_embeddings}, {name}'s max_position_embeddings ({model.hf_repo} config.json)")
    tp_problem = tensor_parallel_problem(model, serving.tensor_parallel_size)
    if tp_problem is not None:
        yield base + ("tensor_parallel_size",), serving.tensor_parallel_size, tp_problem
        return
    servers = [n for n in serving_nodes(spec) if n.sku in skus]
    if not servers or serving.max_model_len > model.max_position_embeddings:
        return  # the serving rule reports these
    # Mixed SKUs: the replica has to fit on the smallest GPU among them.
    sku = min((skus[n.sku] for n in servers), key=lambda s: (s.gpu.memory_gib, s.gpu.count))
    req = request(name, precision, sku, serving.max_model_len, serving.concurrency, serving.gpu_memory_utilization,
                  cat)
    layout = Layout(serving.tensor_parallel_size, serving.pipeline_parallel_size)
    refusal = runnable(req, cat)
    if refusal is not None:
        yield base + ("precision",), precision, f"a precision {sku.name}'s GPUs run: {refusal}"
        return
    if layout.nodes(sku.gpu.count) > len(servers):
        yield (base + ("pipeline_parallel_size",), serving.pipeline_parallel_size,
               f"a layout on the {len(servers)} serving node{'s' if len(servers) > 1 else ''}: {layout} takes "
               f"{layout.gpus} GPUs, {layout.nodes(sku.gpu.count)} {sku.name} nodes")
        return
    result = evaluate(req, layout, cat)
    if not result.fits:
        best = plan(req, len(servers), cat)
        hint = (f"; TP{best.tensor_parallel}×PP{best.pipeline_parallel} on {best.nodes_per_replica} node"
                f"{'s' if best.nodes_per_replica > 1 else ''} fits" if best.fits else
                f"; no layout on the {len(servers)} serving node{'s' if len(servers) > 1 else ''} fits")
        yield (base + ("tensor_parallel_size",), serving.tensor_parallel_size,
               f"a layout that fits: {name} at {precision}, {layout} needs {result.weights_gib_per_gpu:.1f} GiB "
               f"weights + {result.kv_gib_per_gpu:.1f} GiB KV cache ({req.tokens} tokens) per GPU, "
               f"{sku.gpu.model} gives {result.budget_gib_per_gpu:.1f} GiB ({serving.gpu_memory_utilization:g} of "
               f"{sku.gpu.memory_gib} GiB): short by {result.shortfall_gib:.1f} GiB{hint}")
