"""microgpt-viz: see every scalar of a microgpt training step."""
__version__ = "0.1.0"
