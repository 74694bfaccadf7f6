"""The Pulumi program of this project: the stack's spec as one GpuCluster (components/program.py)."""
from components.program import run

run()
