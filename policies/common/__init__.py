"""What every rule of both packs shares: rule classes carrying control metadata, tolerant property access,
the resource type tokens rules look at, and the one message shape (resource, problem, remedy)."""
