"""Household economic verification: what the platform found, and the rules decisions follow."""
