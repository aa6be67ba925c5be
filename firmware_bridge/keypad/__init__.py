"""Legacy caller keypads common in Chinese halls: `FF 68 L L 68 ADDR FUNC DATA CS 16`."""

from firmware_bridge.keypad.codec import KeypadDecoder, KeypadFrame, encode_keypad

__all__ = ["KeypadDecoder", "KeypadFrame", "encode_keypad"]
