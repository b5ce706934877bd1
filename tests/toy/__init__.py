"""A toy source that lives only in the tests: GitHub issues of one sandbox repository as ``toy:`` documents.

It is registered by its entry alone, through the registry's plugin hook
(``BACKFILL_EXTRA_SOURCES=tests.toy.spec:TOY``), and must then run through ``backfill run``, the demo, status,
coverage and the connector contract like any built-in source (tests/test_toy_source.py).
"""
