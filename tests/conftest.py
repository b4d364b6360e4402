"""Shared fixtures: the fake GitHub server (tests/github_server.py) for every test module."""

from github_server import github_server  # noqa: F401 - a fixture, found by name
