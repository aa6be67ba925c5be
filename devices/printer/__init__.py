"""ESC/POS ticket printing: what a ticket says (`ticket.py`), a pure encoder (ticket -> bytes, `escpos.py`) and
byte transports. Import the modules themselves: this package loads nothing, so a presenter that only builds a
`TicketData` does not load Pillow."""
