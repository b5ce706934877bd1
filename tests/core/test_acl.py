"""The ACL model: normalised entries, "holds every entry", per-dimension fields and the Pinecone filter agreeing
with it (checked with the sandbox's implementation of Pinecone's filter language)."""

from __future__ import annotations

import pytest

from core.acl import MAX_ACL_BYTES, AclTooLarge, acl_fields, normalise_acl, pinecone_filter, visible_to
from sandbox.pinecone.store import matches_filter

ENG = "jira:project:ENG"
OPS = "jira:project:OPS"
INTERNAL = "jira:security:Internal"


def test_normalise_strips_dedupes_sorts_and_keeps_none() -> None:
    assert normalise_acl([" jira:security:X", ENG, ENG, ""]) == [ENG, "jira:security:X"]
    assert normalise_acl(None) is None


def test_normalise_refuses_what_cannot_be_stored_whole_or_is_ambiguous() -> None:
    with pytest.raises(AclTooLarge):
        normalise_acl([f"jira:group:{i:04d}-" + "g" * 100 for i in range(MAX_ACL_BYTES // 100)])
    assert issubclass(AclTooLarge, ValueError)  # a mapper turns it into a recorded failure
    for bad in ("none", "jira:group:a|b"):
        with pytest.raises(ValueError):
            normalise_acl([bad])


def test_a_reader_must_hold_every_entry_and_no_acl_is_visible_to_nobody() -> None:
    assert visible_to([ENG], [ENG, OPS])
    assert not visible_to([ENG, INTERNAL], [ENG])
    assert visible_to([ENG, INTERNAL], [ENG, INTERNAL])
    assert not visible_to(None, [ENG]) and not visible_to([], [ENG]) and not visible_to("jira:project:ENG", [ENG])


@pytest.mark.parametrize(
    "acl",
    [
        [ENG],
        [ENG, INTERNAL],
        [OPS, "jira:security:Secret"],
        ["tempo:restricted"],
        [ENG, "jira:role:Administrators"],
        [ENG, "jira:jsm:internal", "jira:security:Internal"],
    ],
)
@pytest.mark.parametrize(
    "grants",
    [[], [ENG], [ENG, INTERNAL], [OPS, ENG, INTERNAL, "jira:security:Secret"], ["tempo:restricted"]],
)
def test_the_pinecone_filter_never_shows_what_visible_to_hides(acl: list[str], grants: list[str]) -> None:
    metadata = {"acl": acl, **acl_fields(acl)}
    shown = matches_filter(metadata, pinecone_filter(grants))
    assert not shown or visible_to(acl, grants)  # fail closed
    if len(acl) <= 2 and all(e.split(":")[1] in ("project", "security") or e == "tempo:restricted" for e in acl):
        assert shown == visible_to(acl, grants)  # and exact for the acls the connectors write by default


def test_a_chunk_without_acl_fields_matches_no_filter() -> None:
    assert not matches_filter({"source": "jira"}, pinecone_filter([ENG, INTERNAL]))
