"""Project-wide pytest configuration: loads the network-namespace lab plugin."""

pytest_plugins = ["tests.lab.fixtures"]
