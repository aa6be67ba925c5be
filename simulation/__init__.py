"""The top of hallq: the demo hall, the living hall, the device and day simulators, simulated regional halls.

They drive the real parts through their public interfaces and may use every layer below (docs/code-overview.md)."""
