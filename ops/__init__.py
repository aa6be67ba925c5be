"""The tools of a real hall box: install (users, config, broker, systemd units), backup and restore, doctor,
device scan for stable names. They may use every layer below (docs/code-overview.md)."""
