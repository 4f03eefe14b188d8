"""Reference apps measured in the same run as the service: the ceiling (hello) and the common pattern (tutorial)."""
