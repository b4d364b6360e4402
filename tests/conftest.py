"""Shared fixtures: real git repositories in temporary folders."""
