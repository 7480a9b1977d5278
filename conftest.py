"""pytest plugins for the whole suite."""

pytest_plugins = ["tests.e2e.plugin"]
