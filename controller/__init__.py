"""hallq: controller."""
