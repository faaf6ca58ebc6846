"""ttv: one story prompt in, one finished video out."""

__version__ = "0.1.0"
