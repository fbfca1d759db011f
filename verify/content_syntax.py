"""What pdfminer and pdfium would read differently in a content stream (verify.appearance).

Both tokenise the same bytes, but not the same way where the bytes are not quite PDF: a number
token with a second dot, an operator PDF does not have, an operator short of operands. One pass
over the stream finds those before pdfminer's interpreter draws it.
"""

from __future__ import annotations

import re

#: Each content-stream operator and the operand counts it takes (ISO 32000-2, Annex A).
_ARITY: dict[str, frozenset[int]] = {
    **{op: frozenset({0}) for op in ("b", "b*", "B", "B*", "BT", "ET", "BX", "EX", "EMC", "f", "F", "f*", "h",
                                      "n", "q", "Q", "s", "S", "T*", "W", "W*", "BI", "ID")},
    **{op: frozenset({1}) for op in ("BMC", "cs", "CS", "Do", "g", "G", "gs", "i", "j", "J", "M", "MP", "ri", "sh",
                                      "Tc", "Tj", "TJ", "TL", "Tr", "Ts", "Tw", "Tz", "w", "'", "EI")},
    **{op: frozenset({2}) for op in ("BDC", "d", "d0", "DP", "l", "m", "Td", "TD", "Tf")},
    **{op: frozenset({3}) for op in ("rg", "RG", '"')},
    **{op: frozenset({4}) for op in ("k", "K", "re", "v", "y")},
    **{op: frozenset({6}) for op in ("c", "cm", "d1", "Tm")},
    "sc": frozenset({1, 3, 4}), "SC": frozenset({1, 3, 4}),
    "scn": frozenset({1, 2, 3, 4, 5}), "SCN": frozenset({1, 2, 3, 4, 5}),
}


_DELIMITERS = frozenset(b"()<>[]{}/%")
_WHITESPACE = frozenset(b"\x00\t\n\x0c\r ")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")


def syntax_problem(data: bytes) -> str | None:
    """What pdfminer and pdfium would read differently in a content stream, in one pass.

    A token that starts like a number but is not one (``18.0.900``, ``--5``, ``1e2``): pdfminer
    ends the number where it cannot go on and reads the rest as another token (18.0 and 0.9),
    pdfium reads one number (18.0), so the next operator's operands differ. An operator PDF does
    not have, or one with another number of operands than it takes: pdfminer keeps an unknown
    operator's operands for the next one and skips an operator short of operands, pdfium clears
    them at every operator and reads missing ones as 0 (``/F1 xx Tf``: no size at all in pdfium).
    """
    i, n, operands, depth = 0, len(data), 0, 0
    while i < n:
        c = data[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if c == 0x25:  # % comment
            while i < n and data[i] not in b"\r\n":
                i += 1
            continue
        closed = False
        if c == 0x28:  # ( literal string )
            level, i = 1, i + 1
            while i < n and level:
                level += {0x28: 1, 0x29: -1}.get(data[i], 0)
                i += 2 if data[i] == 0x5C else 1
            closed = True
        elif c == 0x3C and data[i + 1:i + 2] == b"<":  # << dictionary
            depth, i = depth + 1, i + 2
        elif c == 0x3C:  # < hex string >
            end = data.find(b">", i)
            i, closed = (n if end < 0 else end + 1), True
        elif c in b">]":  # >> or ]
            i += 2 if data[i:i + 2] == b">>" else 1
            depth, closed = depth - 1, True
            if depth < 0:
                return "has an unbalanced ] or >> that readers recover differently"
        elif c == 0x5B:  # [
            depth, i = depth + 1, i + 1
        elif c in b"{}":
            return "uses braces, which content streams do not have"
        else:  # a name, number, boolean or operator: a run of regular characters
            start, i = i, i + 1
            while i < n and data[i] not in _WHITESPACE and data[i] not in _DELIMITERS:
                i += 1
            token = data[start:i]
            if c != 0x2F and token[:1] in b"+-.0123456789" and not _NUMBER.fullmatch(token):
                return f"writes {token.decode('latin-1')!r}, a number that readers split differently"
            if c == 0x2F or token[:1] in b"+-.0123456789" or token in (b"true", b"false", b"null"):
                closed = True
            elif depth:
                return "writes an operator inside an array or dictionary"
            elif token == b"ID":  # inline image data follows (BI is refused anyway)
                return None
            else:
                name = token.decode("latin-1")
                if operands not in _ARITY.get(name, ()):
                    return f"uses {name!r} with operands readers take differently"
                operands = 0
                continue
        if closed and depth == 0:
            operands += 1
    return None
