"""The lowest floor: settings, durable state and its lease, window planning, freshness, report fields, pacing,
the ACL model.

Plain typed Python with no Prefect import and no knowledge of any source by name. Every other floor may import
it; it imports none of them (tests/test_house.py).
"""
