"""A secure hall's broker (CONTRACT §5.1, §5.2): `generate` writes mosquitto's configuration, password file,
ACL, the hall's certificates and each principal's credentials; `hallq secure init` is its command line."""

from hallq.secure.files import SecureError
from hallq.secure.layout import SecureLayout, generate

__all__ = ["SecureError", "SecureLayout", "generate"]
