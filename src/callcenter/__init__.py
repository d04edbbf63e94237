"""callcenter: an open call-center / CTI service desk beside an Asterisk PBX."""

__version__ = "0.1.0"
