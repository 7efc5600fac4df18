"""Configuration: application settings and the clinic profile."""
