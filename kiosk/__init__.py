"""hallq: kiosk."""
