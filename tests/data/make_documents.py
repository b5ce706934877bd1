"""Regenerate ``documents.jsonl``: ``python tests/data/make_documents.py``. Deterministic (seeded).

≥ 200 varied documents: hand-written ones that the search tests look for, seeded engineering prose, and the awkward
cases: one of ~50k tokens, non-ASCII and emoji, empty text, a 2 KB title, 100 KB of metadata fields.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.text import TextGen

OUT = Path(__file__).with_name("documents.jsonl")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# (id, title, text): the five the search tests query for, then more hand-written neighbours.
TOPICS = [
    ("kb:tls-rotation", "Rotating TLS certificates on the Kubernetes ingress",
     "To rotate the TLS certificate on the ingress, renew it with cert-manager, check the new certificate's expiry "
     "date, then roll the ingress controller pods. Certificates expire every 90 days; the rotation is automatic "
     "but the ingress must reload the secret."),
    ("kb:pto-policy", "Holiday and vacation (PTO) policy",
     "Employees get 25 vacation days a year. Up to five unused vacation days carry over to the next year; the rest "
     "expire on March 31. Public holidays are not counted as PTO. Request vacation in the HR portal."),
    ("kb:expenses", "Expense reimbursement for travel",
     "Submit travel expenses within 30 days with receipts attached. Flights, hotels and meals are reimbursed; the "
     "daily meal allowance is 60 euros. Your manager approves the expense report, finance pays it within a week."),
    ("kb:pg-failover", "Postgres primary failover procedure",
     "When the primary database fails, promote the replica with patronictl failover, confirm the new primary "
     "accepts writes, then repoint pgbouncer. Check replication lag before promoting a replica."),
    ("kb:laptop", "New hire laptop setup",
     "A new hire receives a laptop on day one. Enrol it in device management, enable disk encryption, install "
     "the VPN client and the password manager, then join the engineering Slack channels."),
    ("kb:oncall", "On-call rotation and paging",
     "The on-call engineer carries the pager for one week. Acknowledge pages within five minutes, escalate to the "
     "secondary after fifteen. Hand over the rotation on Mondays with a short incident summary."),
    ("kb:release", "Mobile app release train",
     "The mobile release train leaves every second Tuesday. Feature flags guard unfinished work; the release "
     "captain cuts the branch, runs the regression suite and submits the build to the app stores."),
    ("kb:security-review", "Security review for new services",
     "Every new service needs a threat model and a security review before launch. List the data it stores, who "
     "can reach it and how secrets are managed. Pen tests are scheduled by the security team."),
    ("kb:coffee", "Office coffee machine maintenance",
     "Descale the espresso machine every Friday. Beans are ordered from the roastery on the first of the month; "
     "oat milk is in the second fridge. Report a broken grinder to facilities."),
    ("kb:parking", "Bicycle parking and showers",
     "Bicycle racks are in the basement garage; use your badge at the side door. Showers and lockers are on the "
     "first floor. Electric bikes can charge at the outlets near the racks."),
]  # fmt: skip


def _doc(doc_id: str, title: str, text: str, day: int, **extra: object) -> dict[str, object]:
    return {
        "id": doc_id,
        "source": "kb",
        "title": title,
        "text": text,
        "url": f"https://kb.example.com/{doc_id.split(':', 1)[1]}",
        "created_at": (T0 + timedelta(days=day)).isoformat(),
        "updated_at": (T0 + timedelta(days=day, hours=3)).isoformat(),
        **extra,
    }


def documents() -> list[dict[str, object]]:
    docs = [_doc(i, t, x, n, metadata={"space": "handbook"}) for n, (i, t, x) in enumerate(TOPICS)]
    gen = TextGen("tests-data")
    for n in range(186):
        paragraphs = "\n\n".join(gen.paragraph() for _ in range(gen.rng.randint(1, 6)))
        docs.append(_doc(f"kb:note-{n:03d}", gen.title(), paragraphs, 20 + n, metadata={"space": "eng-notes"}))
    long_text = "\n\n".join(gen.paragraph(6) for _ in range(440))  # ~50k cl100k tokens
    docs.append(_doc("kb:long-postmortem", "Annual incident review (long)", long_text, 300))
    docs.append(_doc(
        "kb:unicode", "Café ☕ — Zürich offsite 🎉 (日本語メモ)",
        "Ünïcödé everywhere: naïve façade, Øresund, Ελληνικά, русский текст, 中文段落, emoji 🚀🔥✅ and "
        "combining marks (e\u0301). The offsite agenda: retro, roadmap, fondue.", 301,
        metadata={"tags": ["émoji 😀", "日本"], "city": "Zürich"},
    ))  # fmt: skip
    docs.append(_doc("kb:empty", "A page with a title only", "", 302))
    docs.append(_doc("kb:long-title", "Quarterly planning " + "and more planning " * 110, "Short body.", 303))
    fat = {f"field_{i:03d}": "x" * 1000 for i in range(100)}  # 100 KB of metadata
    docs.append(_doc("kb:fat-metadata", "Page with huge properties", "Body text of the fat page.", 304, metadata=fat))
    return docs


if __name__ == "__main__":
    with OUT.open("w", encoding="utf-8") as fh:
        for doc in documents():
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")
