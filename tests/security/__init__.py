"""Security regressions: table-driven attack cases."""
