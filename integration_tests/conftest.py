"""Markers of Airbyte's standard test suite, registered because pytest runs --strict-markers."""


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "image_tests: Airbyte standard tests that need Docker")
    config.addinivalue_line("markers", "requires_creds: Airbyte scenarios that need secrets")
