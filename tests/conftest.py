"""Project-wide pytest configuration: loads the network-namespace lab plugin and the
simulated Windows hosts' fixtures."""

pytest_plugins = ["tests.lab.fixtures", "tests.lab.winrm_fixtures"]
