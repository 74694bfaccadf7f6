"""podforge's policy packs: `mlps_level3` (pack mlps-level3) and `gpu_baseline` (pack gpu-baseline).

Rules live in importable modules (`policies.<pack>.rules`); only `policies/<pack>/__main__.py` builds the
pulumi_policy PolicyPack, because building it starts the analyzer's gRPC server.
"""
