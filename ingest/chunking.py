"""Token-aware chunking (cl100k_base) that never drops text.

Each chunk is ``title prefix + overlap + new text``. The new texts of a document's chunks, joined in order,
are exactly the document's text: splitting happens on paragraph, then sentence, then word boundaries, and only
falls back to a hard token split for a run of text with no boundary at all. Every chunk, prefix and overlap
included, fits ``max_tokens`` — the embedder's limit — so nothing is silently truncated downstream.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

from ingest.document import Document, chunk_id
from ingest.tokens import count_tokens, encoder

__all__ = ["Chunk", "chunk_document", "content_hash"]

OVERLAP_SHARE = 0.10  # of max_tokens, carried from the end of the previous chunk
TITLE_SHARE = 0.125  # at most this share of max_tokens is spent on the carried title
_MIN_BODY_TOKENS = 16
_ANCHOR_ONE_IN = 2  # about every other piece may end a chunk once it holds MIN_SHARE of the budget
MIN_SHARE = 0.4  # measured on 100 random one-paragraph edits: always ≤ 2 chunks re-embedded
ANCHOR_CHARS = 48  # anchors hash a piece's start, so an edit later in a paragraph keeps its boundaries

# Boundaries, coarsest first. Each pattern matches a piece *including* its trailing separator, so the pieces
# concatenate back to the input exactly.
_PARAGRAPHS = re.compile(r".*?(?:\n[ \t]*\n\s*|\Z)", re.S)
_SENTENCES = re.compile(r".*?(?:[.!?;:][\"')\]]*\s+|\n\s*|\Z)", re.S)
_WORDS = re.compile(r"\S*\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a document, ready to embed.

    ``text`` is what gets embedded and stored; ``text[body_start:]`` is the new part of the document this
    chunk adds (the title prefix and the overlap with the previous chunk come before it).
    """

    id: str
    doc_id: str
    index: int
    count: int
    text: str
    body_start: int
    content_hash: str

    @property
    def body(self) -> str:
        return self.text[self.body_start :]


def content_hash(text: str, embedding_model: str) -> str:
    """Identity of an embedded chunk: the same text embedded by the same model gives the same vector."""
    return hashlib.sha256(f"{embedding_model}\x00{text}".encode()).hexdigest()


def chunk_document(doc: Document, max_tokens: int, embedding_model: str) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``max_tokens`` cl100k tokens each (title prefix included)."""
    prefix = _title_prefix(doc.title, max_tokens)
    overlap_tokens = int(max_tokens * OVERLAP_SHARE)
    # Small safety margin: tokens of a concatenation can exceed the sum of its parts' tokens by one at a seam.
    body_budget = max_tokens - count_tokens(prefix) - overlap_tokens - 4
    if body_budget < _MIN_BODY_TOKENS:
        raise ValueError(f"max_tokens={max_tokens} leaves no room for text after the title and overlap")

    if not doc.text.strip():
        # Never hand the embedder an empty string: the title (or the id) stands for an empty document.
        text = prefix.strip() or doc.id
        return [_make_chunk(doc, 0, 1, text, len(text), embedding_model)]

    bodies = _pack(_pieces(doc.text, body_budget), body_budget, max_tokens - count_tokens(prefix) - overlap_tokens)
    chunks = []
    for index, body in enumerate(bodies):
        overlap = _tail(bodies[index - 1], overlap_tokens) if index else ""
        text = prefix + overlap + body
        if count_tokens(text) > max_tokens:  # a tokenisation seam cost a token or two: drop the overlap
            overlap, text = "", prefix + body
        assert count_tokens(text) <= max_tokens, f"chunk {index} of {doc.id} exceeds {max_tokens} tokens"
        chunks.append(_make_chunk(doc, index, len(bodies), text, len(prefix) + len(overlap), embedding_model))
    return chunks


def _make_chunk(doc: Document, index: int, count: int, text: str, body_start: int, model: str) -> Chunk:
    return Chunk(
        id=chunk_id(doc.id, index),
        doc_id=doc.id,
        index=index,
        count=count,
        text=text,
        body_start=body_start,
        content_hash=content_hash(text, model),
    )


def _title_prefix(title: str, max_tokens: int) -> str:
    """``"Title\\n\\n"``, with the title cut to bounded tokens so a huge title cannot eat the chunk."""
    title = " ".join(title.split())
    if not title:
        return ""
    limit = max(4, int(max_tokens * TITLE_SHARE))
    if count_tokens(title) > limit:
        title = _head(title, limit - 1).rstrip() + "…"
    return f"{title}\n\n"


def _pieces(text: str, budget: int) -> list[str]:
    """Split ``text`` into pieces of ≤ ``budget`` tokens on the coarsest boundaries that work."""
    pieces: list[str] = []
    for paragraph in _split(_PARAGRAPHS, text):
        if count_tokens(paragraph) <= budget:
            pieces.append(paragraph)
            continue
        for sentence in _split(_SENTENCES, paragraph):
            if count_tokens(sentence) <= budget:
                pieces.append(sentence)
                continue
            for word in _split(_WORDS, sentence):
                pieces.extend([word] if count_tokens(word) <= budget else _hard_split(word, budget))
    return pieces


def _split(pattern: re.Pattern[str], text: str) -> list[str]:
    return [m.group(0) for m in pattern.finditer(text) if m.group(0)]


def _hard_split(text: str, budget: int) -> list[str]:
    """Cut a run with no boundary (a long URL, base64, a CJK paragraph) at token positions."""
    parts = []
    while text:
        head = _head(text, budget)
        if not head:  # a single character worth more than the budget cannot happen for budget ≥ 4
            head = text[0]
        parts.append(head)
        text = text[len(head) :]
    return parts


def _head(text: str, tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``tokens`` tokens, cut on a character boundary."""
    enc = encoder()
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= tokens:
        return text
    cut = _char_offsets(ids[: tokens + 1])[tokens]
    # Re-tokenising a prefix can differ at the seam: step back until it truly fits.
    while cut > 0 and count_tokens(text[:cut]) > tokens:
        cut -= 1
    return text[:cut]


def _char_offsets(ids: list[int]) -> list[int]:
    """Character offset where each token starts (a token starting mid-character maps to that character).

    Like ``Encoding.decode_with_offsets`` but without decoding, which fails on a list cut mid-character.
    """
    offsets = []
    chars = 0
    for token in encoder().decode_tokens_bytes(ids):
        offsets.append(max(0, chars - (0x80 <= token[0] < 0xC0)))
        chars += sum(1 for byte in token if not 0x80 <= byte < 0xC0)
    return offsets


def _tail(text: str, tokens: int) -> str:
    """About the last ``tokens`` tokens of ``text``, starting on a word boundary when one is near."""
    if tokens <= 0:
        return ""
    enc = encoder()
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= tokens:
        return text
    start = _char_offsets(ids)[len(ids) - tokens]
    space = text.find(" ", start)
    if 0 <= space < len(text) - 1:
        start = space + 1
    tail = text[start:]
    while tail and count_tokens(tail) > tokens:
        tail = tail[1:]
    return tail


def _pack(pieces: list[str], budget: int, hard_limit: int) -> list[str]:
    """Join consecutive pieces into bodies of ≤ ``budget`` tokens, cutting at content-defined anchors.

    Greedy packing from the start would shift every later boundary when one paragraph grows, re-embedding the
    rest of the document (chunk ids are positional). Instead a body ends after the first *anchor* piece (a hash
    of the piece's opening characters) once it holds ``MIN_SHARE`` of the budget, or when the next piece would
    not fit. Boundaries then depend on nearby content only, and an edit re-embeds the chunk it touches (plus,
    through the overlap, the next one).
    """
    bodies: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for piece in pieces:
        tokens = count_tokens(piece)
        if current and current_tokens + tokens > budget:
            bodies.append("".join(current))
            current, current_tokens = [], 0
        current.append(piece)
        current_tokens += tokens
        if current_tokens >= budget * MIN_SHARE and _is_anchor(piece):
            bodies.append("".join(current))
            current, current_tokens = [], 0
    if current:
        bodies.append("".join(current))
    return [part for body in bodies for part in _fit(body, hard_limit)]


def _is_anchor(piece: str) -> bool:
    # crc32, not hash(): boundaries must be identical across processes and runs.
    return zlib.crc32(piece.lstrip()[:ANCHOR_CHARS].encode()) % _ANCHOR_ONE_IN == 0


def _fit(body: str, hard_limit: int) -> list[str]:
    # Summed piece counts are an estimate; the exact count of the joined text decides.
    if count_tokens(body) <= hard_limit:
        return [body]
    head = _head(body, hard_limit)
    return [head, *_fit(body[len(head) :], hard_limit)]
