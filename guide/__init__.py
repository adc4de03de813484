"""Recovery Guide: answers about peer support and recovery, grounded in a vetted corpus.

Importing this package is cheap on purpose; heavy libraries load inside the functions that need them.
"""

__version__ = "0.1.0"
