import pytest

# The harness and helpers assert too: rewritten like test modules, for readable failures.
pytest.register_assert_rewrite("tests.support")
