"""hallq: display."""
