"""hallq: devices at the kiosk — the ESC/POS ticket printer."""
