"""pytest plugin: one querysight unit per test (off unless enabled)."""
