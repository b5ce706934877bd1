"""Token-aware chunking (cl100k_base) that never drops text.

Each chunk is ``title prefix + overlap + new text``. The new texts of a document's chunks, joined in order,
are exactly the document's text once normalised (``normalise_text``: long whitespace runs collapsed, broken
characters cleaned; ordinary text is left as it is): splitting happens on paragraph, then sentence, then word
boundaries, and only falls back to a hard split for a run of text with no boundary at all. Every chunk, prefix
and overlap included, fits ``max_tokens`` — the embedder's limit — and ``max_bytes`` of stored JSON — so its
metadata fits the store's limit — so nothing is silently truncated or rejected downstream.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from ingest.document import Document, chunk_id, clean_text
from ingest.tokens import count_tokens, encoder, token_ids

__all__ = [
    "MAX_CHUNK_BYTES",
    "Chunk",
    "chunk_document",
    "chunk_text",
    "content_hash",
    "normalise_text",
    "stored_size",
]

# Bytes of a chunk's text as stored (JSON-escaped, see stored_size). With the other required metadata fields
# (ids, hashes, numbers: under 3 KB at their largest, see ingest/metadata.py) it stays under Pinecone's
# 40,960-byte metadata limit whatever the text: cl100k tokens reach 128 bytes each (runs of spaces, "////…"
# rulers), so a token bound alone allowed 64 KB chunks. Ordinary text never gets near it (512 tokens ≈ 2 KB).
MAX_CHUNK_BYTES = 32_768
LONG_WHITESPACE = 64  # a whitespace run longer than this (never indentation or a few blank lines) collapses

OVERLAP_SHARE = 0.10  # of max_tokens, carried from the end of the previous chunk
TITLE_SHARE = 0.125  # at most this share of max_tokens is spent on the carried title
_MIN_BODY_TOKENS = 16
_ANCHOR_ONE_IN = 2  # about every other piece may end a chunk once it holds MIN_SHARE of the budget
MIN_SHARE = 0.4  # measured on 100 random one-paragraph edits: always ≤ 2 chunks re-embedded
_TAIL_MARGIN_TOKENS = 16  # tokens tokenised before the tail, so the window's start cannot shift them
ANCHOR_CHARS = 48  # anchors hash a piece's start, so an edit later in a paragraph keeps its boundaries

# Boundaries, coarsest first: the separator that ends a piece. A piece runs up to and including its separator,
# so the pieces concatenate back to the input exactly. (Searching for separators lets the regex engine skip to
# the next candidate character; a lazy ``.*?`` before them tried the separator at every position.)
_PARAGRAPHS = re.compile(r"\n[ \t]*\n\s*")
_SENTENCES = re.compile(r"[.!?;:][\"')\]]*\s+|\n\s*")
_WORDS = re.compile(r"\s+")
_LONG_RUN = re.compile(rf"\s{{{LONG_WHITESPACE + 1},}}")
# Any L consecutive characters hold L // k positions that are multiples of k, consecutive in ``text[::k]``: a
# text whose every k-th character shows no such run has no long run at all (nearly every text; an eighth of
# the scan).
_STRIDE = 8
_SAMPLED_RUN = re.compile(rf"\s{{{(LONG_WHITESPACE + 1) // _STRIDE}}}")
_MIN_BODY_BYTES = 64


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
    # The cl100k ids of ``text``, made once by chunk_document. An embedder can send them instead of the text,
    # so the text is not tokenised a second time; 4 bytes each, so holding a request's worth stays cheap.
    token_ids: array = field(compare=False, repr=False)

    @property
    def body(self) -> str:
        return self.text[self.body_start :]

    @property
    def tokens(self) -> int:
        """cl100k tokens of ``text``."""
        return len(self.token_ids)

    def __reduce__(self) -> tuple[type[Chunk], tuple[object, ...]]:
        # Chunks come back from the chunking worker pickled; the dataclass's own slots pickling looks up
        # ``fields()`` per object, which cost the receiving side more than the rest of unpickling.
        fields = (self.id, self.doc_id, self.index, self.count, self.text, self.body_start, self.content_hash)
        return Chunk, (*fields, self.token_ids)


def content_hash(text: str, embedding_model: str) -> str:
    """Identity of an embedded chunk: the same text embedded by the same model gives the same vector."""
    return hashlib.sha256(f"{embedding_model}\x00{text}".encode()).hexdigest()


def stored_size(text: str) -> int:
    """Bytes ``text`` takes as a JSON string value in metadata (UTF-8, escapes counted, quotes not).

    At least its UTF-8 size; additive over concatenation, since every character is escaped on its own.
    """
    return len(orjson.dumps(text)) - 2


def normalise_text(text: str) -> str:
    """``text`` as chunking sees it: cleaned (``clean_text``), and every whitespace run longer than
    ``LONG_WHITESPACE`` characters collapsed to two line breaks (it held two or more), one line break (it held
    one) or one space. Deterministic and idempotent; text without such runs is returned unchanged."""
    text = clean_text(text)
    if len(text) <= LONG_WHITESPACE or not _SAMPLED_RUN.search(text[::_STRIDE]):
        return text
    return _LONG_RUN.sub(_collapse, text)


def _collapse(match: re.Match[str]) -> str:
    breaks = match.group().count("\n")
    return "\n\n" if breaks >= 2 else "\n" if breaks else " "


def chunk_document(
    doc: Document, max_tokens: int, embedding_model: str, max_bytes: int = MAX_CHUNK_BYTES
) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``max_tokens`` cl100k tokens and ``max_bytes`` stored bytes each
    (title prefix included)."""
    return chunk_text(doc.id, doc.title, doc.text, max_tokens, embedding_model, max_bytes)


def chunk_text(
    doc_id: str, title: str, text: str, max_tokens: int, embedding_model: str, max_bytes: int = MAX_CHUNK_BYTES
) -> list[Chunk]:
    """``chunk_document`` on the three fields it reads (cheap to send to a worker process)."""
    prefix = _title_prefix(title, max_tokens, max_bytes)
    prefix_ids = token_ids(prefix)
    overlap_tokens = int(max_tokens * OVERLAP_SHARE)
    # Small safety margin: tokens of a concatenation can exceed the sum of its parts' tokens by one at a seam.
    body_budget = max_tokens - len(prefix_ids) - overlap_tokens - 4
    if body_budget < _MIN_BODY_TOKENS:
        raise ValueError(f"max_tokens={max_tokens} leaves no room for text after the title and overlap")
    # Bytes are exact (additive): no seam margin, and a chunk whose overlap would overflow drops it.
    body_bytes = max_bytes - stored_size(prefix) - int(max_bytes * OVERLAP_SHARE)
    if body_bytes < _MIN_BODY_BYTES:
        raise ValueError(f"max_bytes={max_bytes} leaves no room for text after the title and overlap")

    text = normalise_text(text)
    if not text.strip():
        # Never hand the embedder an empty string: the title (or the id) stands for an empty document.
        only = _head_bytes(prefix.strip() or doc_id, max_bytes)
        return [_make_chunk(doc_id, 0, 1, only, len(only), embedding_model, token_ids(only))]

    hard_limit = max_tokens - len(prefix_ids) - overlap_tokens
    bodies = _pack(_pieces(text, body_budget, body_bytes), body_budget, hard_limit, body_bytes)
    chunks = []
    for index, (body, body_ids) in enumerate(bodies):
        overlap, tail_ids = _tail(bodies[index - 1][0], overlap_tokens) if index else ("", [])
        chunk = prefix + overlap + body
        ids = _joined_ids([(prefix, prefix_ids), (overlap, tail_ids), (body, body_ids)])
        if len(ids) > max_tokens or (overlap and stored_size(chunk) > max_bytes):
            # A tokenisation seam cost a token or two, or the overlap is byte-heavy: drop the overlap.
            overlap, chunk = "", prefix + body
            ids = _joined_ids([(prefix, prefix_ids), (body, body_ids)])
        assert len(ids) <= max_tokens, f"chunk {index} of {doc_id} exceeds {max_tokens} tokens"
        assert stored_size(chunk) <= max_bytes, f"chunk {index} of {doc_id} exceeds {max_bytes} bytes"
        chunks.append(_make_chunk(doc_id, index, len(bodies), chunk, len(prefix) + len(overlap), embedding_model, ids))
    return chunks


def _clean_seam(left: str, right: str) -> bool:
    """Whether tokens(left + right) == tokens(left) + tokens(right), by cl100k's pre-tokeniser.

    When ``left`` ends with a line break and ``right`` starts with a non-space, the pre-tokeniser's last match
    in ``left`` (a ``\\s*[\\r\\n]+`` or ``…[\\r\\n]*`` run) ends exactly at the seam whether or not ``right``
    follows, and BPE never merges across pre-tokens: the counts add up. Anything else is counted for real.
    """
    return not left or not right or (left[-1] in "\r\n" and not right[0].isspace())


def _joined_ids(parts: Sequence[tuple[str, list[int] | None]]) -> list[int]:
    """Exact token ids of the parts joined: concatenated when every part's ids are known and every seam is
    clean, else tokenised for real."""
    present = [(text, ids) for text, ids in parts if text]
    seams_clean = all(_clean_seam(a, b) for (a, _), (b, _) in itertools.pairwise(present))
    if seams_clean and all(ids is not None for _, ids in present):
        return [token for _, ids in present for token in ids]  # type: ignore[union-attr]
    return token_ids("".join(text for text, _ in present))


def _make_chunk(doc_id: str, index: int, count: int, text: str, body_start: int, model: str, ids: list[int]) -> Chunk:
    return Chunk(
        id=chunk_id(doc_id, index),
        doc_id=doc_id,
        index=index,
        count=count,
        text=text,
        body_start=body_start,
        content_hash=content_hash(text, model),
        token_ids=array("I", ids),
    )


def _title_prefix(title: str, max_tokens: int, max_bytes: int) -> str:
    """``"Title\\n\\n"``, with the title cut to bounded tokens and bytes so a huge title cannot eat the chunk."""
    title = " ".join(clean_text(title).split())
    if not title:
        return ""
    limit = max(4, int(max_tokens * TITLE_SHARE))
    if count_tokens(title) > limit:
        title = _head(title, limit - 1).rstrip() + "…"
    byte_limit = int(max_bytes * TITLE_SHARE)
    if stored_size(title) > byte_limit:
        title = _head_bytes(title, byte_limit - stored_size("…")).rstrip() + "…"
    return f"{title}\n\n"


def _pieces(text: str, budget: int, byte_budget: int) -> list[tuple[str, list[int]]]:
    """Split ``text`` into (piece, token ids) of ≤ ``budget`` tokens and ≤ ``byte_budget`` stored bytes, on the
    coarsest boundaries that work.

    Each piece is tokenised once, here; packing and the chunks reuse the ids. (A piece over the byte budget is
    split further without being tokenised.)
    """
    pieces: list[tuple[str, list[int]]] = []
    for paragraph in _split(_PARAGRAPHS, text):
        if stored_size(paragraph) <= byte_budget and len(ids := token_ids(paragraph)) <= budget:
            pieces.append((paragraph, ids))
            continue
        for sentence in _split(_SENTENCES, paragraph):
            if stored_size(sentence) <= byte_budget and len(ids := token_ids(sentence)) <= budget:
                pieces.append((sentence, ids))
                continue
            for word in _split(_WORDS, sentence):
                if stored_size(word) <= byte_budget and len(ids := token_ids(word)) <= budget:
                    pieces.append((word, ids))
                else:
                    pieces.extend((part, token_ids(part)) for part in _hard_split(word, budget, byte_budget))
    return pieces


def _split(separator: re.Pattern[str], text: str) -> list[str]:
    """``text`` cut after each match of ``separator`` (the last piece may have none); no empty pieces."""
    pieces = []
    start = 0
    for match in separator.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_split(text: str, budget: int, byte_budget: int) -> list[str]:
    """Cut a run with no boundary (a long URL, base64, a CJK paragraph) at token positions, within the bytes.

    Only the run's first ``byte_budget`` bytes are tokenised for each part, never the whole rest of the run.
    """
    parts = []
    while text:
        head = _head(_head_bytes(text, byte_budget), budget)
        if not head:  # a single character worth more than the budget cannot happen for budget ≥ 4
            head = text[0]
        parts.append(head)
        text = text[len(head) :]
    return parts


def _head_bytes(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose ``stored_size`` is at most ``max_bytes`` (whole characters)."""
    # A character stores as 1 to 6 bytes: the cut lies within the first max_bytes characters.
    if len(text) * 6 <= max_bytes or stored_size(text) <= max_bytes:
        return text
    low, high = 0, min(len(text), max_bytes)
    while low < high:  # the largest fitting length: sizes grow with the length
        middle = (low + high + 1) // 2
        if stored_size(text[:middle]) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _head(text: str, tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``tokens`` tokens, cut on a character boundary."""
    enc = encoder()
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= tokens:
        return text
    cut = _char_offset(text, ids, tokens)
    # Re-tokenising a prefix can differ at the seam: step back until it truly fits.
    while cut > 0 and count_tokens(text[:cut]) > tokens:
        cut -= 1
    return text[:cut]


def _char_offset(text: str, ids: list[int], index: int) -> int:
    """Character offset in ``text`` where token ``index`` of ``ids`` (the tokens of ``text``) starts.

    A token starting mid-character maps to that character. Done on bytes in C (``decode_bytes``), never
    token by token in Python; unlike ``Encoding.decode_with_offsets`` it cannot fail on a cut character.
    """
    byte_offset = len(encoder().decode_bytes(ids[:index]))
    # "ignore" drops a character cut in half, so the count ends on the character the token starts in.
    return len(text.encode()[:byte_offset].decode("utf-8", errors="ignore"))


def _tail(text: str, tokens: int) -> tuple[str, list[int] | None]:
    """About the last ``tokens`` tokens of ``text`` (and their ids when known), from a word boundary."""
    if tokens <= 0:
        return "", []
    window, ids = _end_window(text, tokens)
    if len(ids) <= tokens:
        return text, (ids if window is text else None)
    start = len(text) - len(window) + _char_offset(window, ids, len(ids) - tokens)
    space = text.find(" ", start)
    if 0 <= space < len(text) - 1:
        start = space + 1
    tail = text[start:]
    while tail and len(tail_ids := token_ids(tail)) > tokens:
        tail = tail[1:]
    return tail, (tail_ids if tail else [])


def _end_window(text: str, tokens: int) -> tuple[str, list[int]]:
    """The end of ``text`` and its token ids, long enough to hold ``tokens`` tokens plus a margin.

    Tokenising only the end (not the whole body) finds the same last tokens: the window starts well before
    them, so its own first, possibly different, tokens are never used.
    """
    enc = encoder()
    chars = (tokens + _TAIL_MARGIN_TOKENS) * 8
    while True:
        window = text[-chars:] if chars < len(text) else text
        ids = enc.encode_ordinary(window)
        if window is text or len(ids) > tokens + _TAIL_MARGIN_TOKENS:
            return window, ids
        chars *= 2


def _pack(
    pieces: list[tuple[str, list[int]]], budget: int, hard_limit: int, byte_budget: int
) -> list[tuple[str, list[int]]]:
    """Join consecutive pieces into bodies of ≤ ``budget`` tokens and ≤ ``byte_budget`` stored bytes, cutting at
    content-defined anchors.

    Greedy packing from the start would shift every later boundary when one paragraph grows, re-embedding the
    rest of the document (chunk ids are positional). Instead a body ends after the first *anchor* piece (a hash
    of the piece's opening characters) once it holds ``MIN_SHARE`` of the budget, or when the next piece would
    not fit. Boundaries then depend on nearby content only, and an edit re-embeds the chunk it touches (plus,
    through the overlap, the next one).

    Each body comes with its exact token ids.
    """
    bodies: list[list[tuple[str, list[int]]]] = []
    current: list[tuple[str, list[int]]] = []
    current_tokens = current_bytes = 0
    for piece, ids in pieces:
        size = stored_size(piece)
        if current and (current_tokens + len(ids) > budget or current_bytes + size > byte_budget):
            bodies.append(current)
            current, current_tokens, current_bytes = [], 0, 0
        current.append((piece, ids))
        current_tokens += len(ids)
        current_bytes += size
        if current_tokens >= budget * MIN_SHARE and _is_anchor(piece):
            bodies.append(current)
            current, current_tokens, current_bytes = [], 0, 0
    if current:
        bodies.append(current)
    return [part for body in bodies for part in _fit(body, hard_limit)]


def _is_anchor(piece: str) -> bool:
    # crc32, not hash(): boundaries must be identical across processes and runs.
    return zlib.crc32(piece.lstrip()[:ANCHOR_CHARS].encode()) % _ANCHOR_ONE_IN == 0


def _fit(pieces: list[tuple[str, list[int]]], hard_limit: int) -> list[tuple[str, list[int]]]:
    """The joined pieces as one body, or cut at ``hard_limit`` exact tokens when the seams pushed it over."""
    # Summed piece counts are an estimate; the exact ids of the joined text decide.
    body = "".join(piece for piece, _ in pieces)
    ids = _joined_ids(pieces)
    if len(ids) <= hard_limit:
        return [(body, ids)]
    return _fit_exact(body, hard_limit)


def _fit_exact(body: str, hard_limit: int) -> list[tuple[str, list[int]]]:
    if len(ids := token_ids(body)) <= hard_limit:
        return [(body, ids)]
    head = _head(body, hard_limit)
    return [(head, token_ids(head)), *_fit_exact(body[len(head) :], hard_limit)]
