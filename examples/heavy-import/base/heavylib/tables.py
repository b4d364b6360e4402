"""Lookup tables built at import: about 30 MB kept for the life of the process."""

WIDTHS = {"name": 12, "qty": 5, "price": 8}
_LOOKUP = bytearray(b"\x01") * (30 * 2**20)
