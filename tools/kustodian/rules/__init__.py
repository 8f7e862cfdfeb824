"""The rule engine: rule metadata, the catalogue, the overlay context and the runner."""
