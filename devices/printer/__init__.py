"""ESC/POS ticket printing: a pure encoder (ticket -> bytes) and byte transports."""

from devices.printer.escpos import PROFILES, Profile, TicketData, render_ticket_bytes

__all__ = ["PROFILES", "Profile", "TicketData", "render_ticket_bytes"]
