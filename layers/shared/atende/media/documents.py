"""Text out of documents a customer sends: PDFs (through pypdf, imported lazily) and plain text files.

Bounded on both axes the caller chooses: pages read and characters kept, so a 300-page catalogue
costs the same as a 20-page one. Anything unreadable (encrypted with a password, corrupt, a type
we do not read) is ``MediaUnavailable(reason="unsupported_type")``: permanent for that message.
"""

from __future__ import annotations

import codecs
import gc
import io
from dataclasses import dataclass, field

from atende.errors import MediaUnavailable
from atende.media import MediaBlob

TEXT_TYPES = frozenset({"text/plain", "text/csv", "application/json"})
_UTF8_MAX_BYTES_PER_CHAR = 4
_PAGE_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class DocumentText:
    """``pages_read``/``total_pages`` count PDF pages; a text file is one page."""

    text: str = field(repr=False)
    pages_read: int
    total_pages: int
    truncated: bool  # pages or characters were left out


def is_pdf(blob: MediaBlob) -> bool:
    # Some senders label every file application/octet-stream; the PDF header is unambiguous.
    return blob.base_mime == "application/pdf" or (blob.base_mime == "application/octet-stream" and blob.data[:5] == b"%PDF-")


def extract_text(blob: MediaBlob, *, max_pages: int, max_chars: int) -> DocumentText:
    if max_pages < 1 or max_chars < 1:
        raise ValueError("max_pages and max_chars must be positive")
    if is_pdf(blob):
        return _pdf_text(blob.data, max_pages=max_pages, max_chars=max_chars)
    if blob.base_mime in TEXT_TYPES:
        return _plain_text(blob.data, max_chars=max_chars)
    raise MediaUnavailable(f"cannot read {blob.base_mime} documents", reason="unsupported_type")


def _plain_text(data: bytes, *, max_chars: int) -> DocumentText:
    # Decode only what can hold max_chars (+1 to tell whether more follows); the incremental
    # decoder holds back a character cut in half instead of inventing a replacement for it.
    budget = (max_chars + 1) * _UTF8_MAX_BYTES_PER_CHAR
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    text = decoder.decode(data[:budget], final=len(data) <= budget)
    truncated = len(text) > max_chars or len(data) > budget
    return DocumentText(text=text[:max_chars], pages_read=1, total_pages=1, truncated=truncated)


def _pdf_text(data: bytes, *, max_pages: int, max_chars: int) -> DocumentText:
    # pypdf raises its own errors for most damage, but a hostile or broken file can also surface as
    # KeyError, struct.error, zlib.error, RecursionError...: every failure to read is the same
    # outcome for the customer, so all of them translate to one MediaUnavailable.
    try:
        parts, pages_read, total = _pdf_pages(data, max_pages=max_pages, max_chars=max_chars)
    except MediaUnavailable:
        raise
    except Exception as exc:
        raise MediaUnavailable(f"unreadable PDF: {type(exc).__name__}", reason="unsupported_type") from exc
    finally:
        # pypdf's object graph (~2x the file) is made of reference cycles, unreachable once
        # _pdf_pages has returned: collect it now rather than let a batch of PDFs pile up in the
        # same invocation (measured by `make bench`).
        gc.collect()
    text = _PAGE_SEPARATOR.join(parts)
    return DocumentText(
        text=text[:max_chars],
        pages_read=pages_read,
        total_pages=total,
        truncated=pages_read < total or len(text) > max_chars,
    )


def _pdf_pages(data: bytes, *, max_pages: int, max_chars: int) -> tuple[list[str], int, int]:
    """(page texts, pages read, total pages). Every pypdf object stays local to this call."""
    from pypdf import PasswordType, PdfReader  # lazy: only documents pay for it

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        # Owner-password-only PDFs (common for bank and utility bills) open with the empty password.
        raise MediaUnavailable("the PDF needs a password", reason="unsupported_type")
    total = len(reader.pages)
    parts: list[str] = []
    pages_read = chars = 0
    for page in reader.pages[:max_pages]:
        if chars >= max_chars:  # enough text: the remaining pages are not worth the CPU
            break
        pages_read += 1
        if page_text := page.extract_text().strip():  # scanned pages have no text layer
            chars += len(page_text) + (len(_PAGE_SEPARATOR) if parts else 0)
            parts.append(page_text)
    return parts, pages_read, total
