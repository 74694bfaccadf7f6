"""The mlps-level3 policy pack (China MLPS 2.0 (GB/T 22239-2019) level 3, as it applies to a podforge GPU cluster)."""
