"""Pillow-only imaging."""
