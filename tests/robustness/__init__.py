"""Robustness drills: the running service attacked the way production will (docs/robustness.md)."""
