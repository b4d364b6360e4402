"""Shared fixtures of the example's tests."""
