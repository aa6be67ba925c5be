"""hallq: devices."""
