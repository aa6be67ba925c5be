"""hallq: hall kiosk and queue management for government service halls."""
