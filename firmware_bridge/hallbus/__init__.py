"""hallbus v1 (CONTRACT §4): the serial frame of window devices — framing, CRC, message table, decoder."""

from firmware_bridge.hallbus.crc import crc16_modbus
from firmware_bridge.hallbus.decoder import FrameDecoder
from firmware_bridge.hallbus.frame import ETX, STX, Frame, encode_frame
from firmware_bridge.hallbus.messages import (
    CMD,
    EVENT,
    KEY,
    NAK_REASON,
    BitmapRows,
    DeviceEvent,
    IdentifyReply,
    Show,
    StateMsg,
    decode_event,
    encode_event,
)

__all__ = ["CMD", "BitmapRows", "ETX", "EVENT", "KEY", "NAK_REASON", "STX", "DeviceEvent", "Frame", "FrameDecoder",
           "IdentifyReply", "Show", "StateMsg", "crc16_modbus", "decode_event", "encode_event", "encode_frame"]
