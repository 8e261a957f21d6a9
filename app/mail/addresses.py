"""Address and header checks done before anything is queued (and again in the worker).

Addresses are validated with email-validator (syntax only: `check_deliverability=False`, so no DNS
lookup); its default rules apply, so special-use domains such as ``localhost`` or ``.test`` are
refused (RFC 6761). Any CR or LF in a header value is refused: it is how header injection works
(a subject of ``"Hi\\r\\nBcc: victim@example.com"``).
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidInput

_SPLIT_RE = re.compile(r"[,;\s]+")


def check_header(name: str, value: str | None) -> str:
    """Return `value` ('' for None) after refusing CR, LF and NUL in it.

    Raises:
        InvalidInput: the value holds a line break or NUL (header injection).
    """
    value = "" if value is None else str(value)
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidInput(f"{name} must be a single line: line breaks are not allowed in email headers.")
    return value


def check_address(address: str, field: str = "address") -> str:
    """The normalized form of one address (no display name).

    Raises:
        InvalidInput: CR/LF in it, or not a valid address (the reason from email-validator).
    """
    address = check_header(field, address).strip()
    if not address:
        raise InvalidInput(f"{field} is empty: give an email address.")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"{field} {address!r} is not a valid email address: {exc}") from None


def check_addresses(addresses: Iterable[str] | str | None, field: str) -> list[str]:
    """Normalized addresses from a list or a comma/semicolon/space separated string, duplicates dropped.

    Raises:
        InvalidInput: any one address is invalid (named in the message).
    """
    if addresses is None:
        return []
    if isinstance(addresses, str):
        check_header(field, addresses)
        addresses = [a for a in _SPLIT_RE.split(addresses) if a]
    seen: dict[str, None] = {}
    for raw in addresses:
        seen.setdefault(check_address(raw, field), None)
    return list(seen)


def check_count(count: int, limit: int) -> None:
    """Raises InvalidInput when `count` recipients exceed `limit` (EMAIL_MAX_RECIPIENTS) or are none."""
    if count == 0:
        raise InvalidInput("Give at least one recipient.")
    if count > limit:
        raise InvalidInput(f"{count} recipients is over the limit of {limit} (EMAIL_MAX_RECIPIENTS); "
                           f"split the list.")


def parse_recipient_rows(text: str) -> list[dict]:
    """Bulk recipients from pasted text or CSV: ``[{'email': str, 'context': {column: value}}]``.

    Accepted shapes: one address per line (or separated by commas/semicolons), or CSV with a header
    row holding an ``email`` column (case-insensitive); the other columns become the row's template
    context. Addresses are not validated here (see `check_recipient_rows`).

    Raises:
        InvalidInput: CSV without an email column, or nothing found.
    """
    text = (text or "").lstrip("\ufeff").strip()
    if not text:
        raise InvalidInput("The recipient list is empty.")
    first = text.splitlines()[0]
    if "@" in first or not ("," in first or ";" in first or "\t" in first):
        return [{"email": a, "context": {}} for a in _SPLIT_RE.split(text) if a]
    dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "email" not in columns:
        raise InvalidInput("The CSV has no 'email' column: add a header row such as email,name.")
    rows = []
    for row in reader:
        email = (row.get(columns["email"]) or "").strip()
        if not email:
            continue
        context = {(k or "").strip(): (v or "").strip() for k, v in row.items()
                   if k and k != columns["email"]}
        rows.append({"email": email, "context": context})
    if not rows:
        raise InvalidInput("The CSV has no rows with an email address.")
    return rows


def check_recipient_rows(rows: Iterable[dict | str], limit: int) -> list[dict]:
    """Validated bulk rows ``[{'email', 'context'}]``, duplicates (same address) dropped, capped.

    Raises:
        InvalidInput: a bad address (with its row number), a context that is not a mapping, too many.
    """
    out: dict[str, dict] = {}
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str):
            row = {"email": row, "context": {}}
        if not isinstance(row, dict) or not isinstance(row.get("context", {}), dict):
            raise InvalidInput(f"Recipient row {number}: expected {{'email': ..., 'context': {{...}}}}.")
        try:
            email = check_address(str(row.get("email", "")), "recipient")
        except InvalidInput as exc:
            raise InvalidInput(f"Recipient row {number}: {exc}") from None
        out.setdefault(email, {"email": email, "context": dict(row.get("context") or {})})
    check_count(len(out), limit)
    return list(out.values())
