"""The Pulumi program: stack config → validated spec → resources → exports (keep it a screenful)."""

import pulumi

from components.spec import SpecError, load_spec

config = pulumi.Config("podforge")
try:
    loaded = load_spec(config.require("spec"))
except SpecError as exc:
    raise pulumi.RunError("invalid spec:\n" + "\n".join(map(str, exc.problems))) from None

pulumi.export("site", loaded.spec.site.name)
