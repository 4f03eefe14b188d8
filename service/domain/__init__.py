"""Domain: the models and errors every layer may use. Imports nothing from the rest of the service."""
