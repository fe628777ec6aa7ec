"""hamn: guided procedures for an xCAT high-availability management node pair."""

__version__ = "0.1.0"
