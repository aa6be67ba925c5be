"""蒙速办 codes: minting test tokens, verifying credential and appointment tokens, remembering used ones."""
