"""Benchmarks that the README's figures come from: python -m benchmarks.serving, .inprocess."""
