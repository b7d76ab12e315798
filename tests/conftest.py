"""Project-wide pytest configuration: loads the network-namespace lab plugin and the
simulated Windows hosts' fixtures."""

pytest_plugins = ["tests.lab.fixtures", "tests.lab.winrm_fixtures"]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _lab_hosts_are_confirmed(request: pytest.FixtureRequest,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab test created its hosts itself: it accepts their new SSH keys, as a person
    would with --accept-new-host-keys ([12].10). Other tests get the product's default."""
    if request.node.get_closest_marker("lab") is not None:
        from app.remote.access import RemoteAccess

        monkeypatch.setattr(RemoteAccess, "accept_new_host_keys", True)
