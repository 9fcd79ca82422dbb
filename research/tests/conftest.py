"""The research tests share the suite's fixtures and skip policy (tests/conftest.py)."""

from tests.conftest import (faces_dir, pytest_collection_modifyitems, pytest_make_collect_report,  # noqa: F401
                            pytest_runtest_makereport, raw_photos, require, tiny_dictionary)
