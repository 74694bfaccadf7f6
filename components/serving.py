"""ModelServing: what the cluster serves (engine, model, context length, parallelism) as declared desired state.

The inference stack that deploys it is a later step; declaring the serving intent now lets the policy packs
check it before anything is deployed (a context longer than the model's position embeddings is refused).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.spec import ClusterSpec
from components.spec.operations import Serving

TYPE = "podforge:serving:ModelServing"


def desired_state(serving: Serving) -> dict[str, Any]:
    m = serving.model
    return {"engine": serving.engine, "image": serving.image, "tensorParallelSize": serving.tensor_parallel_size,
            "maxModelLen": serving.max_model_len, "port": serving.port,
            "model": {"name": m.name, "export": m.export, "path": m.path,
                      "maxPositionEmbeddings": m.max_position_embeddings, "quantization": m.quantization}}


class ModelServing(pulumi.ComponentResource):
    """The served model; one per cluster that declares `serving`, named `<site>-serving`."""

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        if spec.serving is None:
            raise ValueError("ModelServing needs a spec with a `serving` section")
        super().__init__(TYPE, name, desired_state(spec.serving), opts)
        self.register_outputs({})
