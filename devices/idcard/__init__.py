"""Second-generation ID card (二代身份证) readers with a GA 467 SAM module: interface, driver, simulator, factory."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from devices.idcard.card import IdCard
from devices.idcard.errors import CardError, IdCardError, ReaderError
from devices.idcard.reader import SamReader
from devices.idcard.transport import SerialTransport, SimTransport, Transport

__all__ = ["CardError", "CardPlaced", "CardRefused", "CardWatch", "IdCard", "IdCardError", "IdCardReader",
           "ReaderDown", "ReaderError", "ReaderEvent", "ReaderUp", "SamReader", "URL_FORMS", "reader_for_url"]

URL_FORMS = "serial:///dev/ttyUSB0?baud=115200, a pyserial URL (socket://host:port, loop://), sim://NAME or none://"
PYSERIAL_SCHEMES = ("socket", "loop", "rfc2217", "spy", "alt")


class IdCardReader(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    def read_card(self) -> IdCard | None:
        """The card on the reader now, None without one; CardError / ReaderError when reading fails."""
        ...

    def poll(self) -> IdCard | None:
        """A card newly placed (each placement once), else None."""
        ...

    def describe(self) -> str: ...


def reader_for_url(url: str, *, name: str = "idcard", reply_timeout_s: float = 0.5, card_timeout_s: float = 2.0,
                   retries: int = 2) -> SamReader | None:
    """The reader a URL names, constructed but not opened; None for none://.

    serial:///dev/ttyUSB0?baud=115200 (a USB-serial reader; 115200 is the modules' default), pyserial URLs,
    sim://NAME (the in-process simulator registered under NAME, an empty reader if none is).
    """
    u = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(u.query).items()}
    transport: Transport
    if u.scheme == "none":
        return None
    if u.scheme in ("serial", "") and u.path:
        baud = q.get("baud", "115200")
        if not baud.isdigit() or int(baud) not in (9600, 19200, 38400, 57600, 115200):
            raise ReaderError(f"ID card reader {name}: baud={baud!r} in {url!r} is not one a SAM module speaks "
                              "(9600, 19200, 38400, 57600, 115200)")
        transport = SerialTransport(name, u.path, int(baud))
    elif u.scheme in PYSERIAL_SCHEMES:
        transport = SerialTransport(name, url)
    elif u.scheme == "sim":
        transport = SimTransport(name, u.netloc or u.path.strip("/") or "idcard")
    else:
        raise ReaderError(f"ID card reader {name}: cannot use {url!r} — give {URL_FORMS}")
    return SamReader(transport, reply_timeout_s=reply_timeout_s, card_timeout_s=card_timeout_s, retries=retries)


from devices.idcard.watch import CardPlaced, CardRefused, CardWatch, ReaderDown, ReaderEvent, ReaderUp  # noqa: E402
