"""The bad-input corpus: malformed and extreme API responses, each driven to its documented end.

Layout:

- ``canned.py``  — ``Canned``: one raw response (bytes, status, content type, ``times``) and what it matches, posted
  to the sandbox's ``POST /_control/canned`` (sandbox/canned.py).
- ``sources.py`` — one ``Source`` per API under test: how its connector is built against the sandbox, which
  partitions a case runs (the first, "bad" one is the one the canned responses answer; the others are served by
  the sandbox and are "everything else"), and builders for that API's raw records and pages.
- ``cases.py``   — ``CASES``: the table. Each ``Case`` is (name, api, canned responses, outcome, expected ids,
  extra check). The documented outcomes are listed in the "Bad input" section of
  ``test_bad_input_corpus.py``'s docstring (copied into docs/RUNBOOK.md).

Adding a source (Slack, Notion, …): write its ``Source`` in ``sources.py`` (``build``, ``partitions``, the match
that pins a canned listing response to the bad partition, its display name) and register it in ``SOURCES``;
then add its cases to ``CASES`` and one line each to the "Bad input" table. The runner is source-agnostic.
"""
