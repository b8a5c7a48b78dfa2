"""Settings: the YAML configuration and the secrets, validated (public import path: :mod:`kalshibot.config`)."""
