"""Proves: the Python client (clients/python) embeds through the real embedwatch, maps every error, cancels, survives a dead child and never stalls an asyncio loop (its unittest suite, run here as one scenario)."""
import logging
import os
import sys
import unittest

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "clients", "python", "tests")


def main():
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stdout,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    sys.path.insert(0, TESTS)
    suite = unittest.defaultTestLoader.discover(TESTS, pattern="test_*.py",
                                                top_level_dir=TESTS)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(
        suite)
    n_bad = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    print(f"python client: {result.testsRun - n_bad - len(result.skipped)} "
          f"passed, {n_bad} failed, {len(result.skipped)} skipped",
          flush=True)
    sys.exit(0 if n_bad == 0 and result.testsRun > 0 else 1)


main()
