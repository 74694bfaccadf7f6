"""The gpu-baseline policy pack: software versions, rail cabling, fabric redundancy, storage and serving limits."""
