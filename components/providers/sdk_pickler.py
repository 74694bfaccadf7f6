"""Keep the SDK's dynamic-provider serialization from nesting itself once per resource.

pulumi 3.272's `pulumi.dynamic.dynamic.serialize_provider` replaces `pickle._Pickler._batch_setitems` with a
wrapper that sorts the items and then calls the method it found, and never puts the original back. Every
dynamic resource therefore wraps the previous wrapper: the n-th resource pickles each dict through n nested
wrappers (sorting it n times), and past roughly 950 dynamic resources in one program the nesting exceeds
Python's recursion limit (RecursionError: a 1,024-node cluster could not be previewed or deployed).
`restored_pickler()` puts back what the SDK replaced once the resource has been constructed, so each
serialization sees exactly one sorting wrapper, as the SDK intends; the serialized provider is unchanged.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator

_PATCHED = ("_batch_setitems", "save_dict")  # what serialize_provider assigns on pickle._Pickler


@contextlib.contextmanager
def restored_pickler() -> Iterator[None]:
    """Run a dynamic resource's constructor; afterwards pickle._Pickler is as it was before."""
    saved = {name: pickle._Pickler.__dict__[name] for name in _PATCHED if name in pickle._Pickler.__dict__}
    pickler = pickle.Pickler
    try:
        yield
    finally:
        for name in _PATCHED:
            if name in saved:
                setattr(pickle._Pickler, name, saved[name])
            elif name in pickle._Pickler.__dict__:
                delattr(pickle._Pickler, name)
        pickle.Pickler = pickler
