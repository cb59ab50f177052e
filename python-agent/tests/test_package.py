import importlib.metadata

import querysight


def test_reports_the_version_it_was_installed_with():
    assert querysight.__version__ == importlib.metadata.version("querysight")
