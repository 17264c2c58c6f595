"""Clocks: the hybrid logical clock (``hlc``) and the physical clocks it may be given."""
