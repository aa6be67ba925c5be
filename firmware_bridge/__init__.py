"""hallq: firmware_bridge."""
