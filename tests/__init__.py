"""The test suite is one package (``tests.validation``, ``tests.vboard``, ...), so pytest puts the
repository root on ``sys.path`` and ``import validation`` is the project's package, not
``tests/validation``."""
