"""The league's console (`hallq region serve`, CONTRACT §7)."""
