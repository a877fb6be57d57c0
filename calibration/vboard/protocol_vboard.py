"""pyserial looks for ``<package>.protocol_<scheme>``; the handler lives in :mod:`serial_url`."""

from calibration.vboard.serial_url import Serial

__all__ = ["Serial"]
