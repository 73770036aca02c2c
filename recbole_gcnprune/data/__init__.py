"""Data helpers: graph construction and dataset files."""
