"""Runs a third-party package's own test suite with plain unittest: a real, unmodified workload.

The run tests copy this file into the root of an unpacked sdist (so that the package is importable
from its source tree and named by its dotted module names) and run it there. It discovers the tests
under `tests/` next to it and exits 0 only if every test passed.
"""

import os
import sys
import unittest


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(os.path.join(root, "tests"), top_level_dir=root)
    if suite.countTestCases() == 0:
        return f"unittest_suite: no tests found under {root}/tests"
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
    print(f"unittest_suite: ran {result.testsRun} tests, {len(result.failures)} failures, "
          f"{len(result.errors)} errors")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
