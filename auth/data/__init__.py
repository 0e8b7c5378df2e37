"""Data files shipped with rowgate (the common-password list)."""
