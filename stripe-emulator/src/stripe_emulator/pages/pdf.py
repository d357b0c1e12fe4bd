"""A minimal PDF 1.4 writer: pages of Helvetica text lines and rules.

Enough for invoices: one font (Helvetica, and Helvetica-Bold), WinAnsi
encoding (so "€" and "£" print), absolute positions in points, automatic page
breaks, and a correct cross-reference table so any reader (and `pdftotext`)
opens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE_W, PAGE_H = 595, 842  # A4 in points
MARGIN = 56


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def text_width(text: str, size: float) -> float:
    """Approximate Helvetica advance width (good enough for right alignment)."""
    narrow = set("ijlI.,:;'|!() ")
    wide = set("MWmw@%")
    units = 0.0
    for ch in text:
        units += 0.28 if ch in narrow else 0.83 if ch in wide else 0.56
    return units * size


@dataclass
class PdfDocument:
    pages: list[list[bytes]] = field(default_factory=lambda: [[]])
    y: float = PAGE_H - MARGIN

    def _ops(self) -> list[bytes]:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append([])
        self.y = PAGE_H - MARGIN

    def ensure(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.new_page()

    def text(
        self, x: float, text: str, *, size: float = 10, bold: bool = False, right: bool = False
    ) -> None:
        """Text at the current line; `right=True` right-aligns it ending at x."""
        if right:
            x -= text_width(text, size)
        font = b"/F2" if bold else b"/F1"
        self._ops().append(
            b"BT "
            + font
            + b" %.1f Tf %.2f %.2f Td (" % (size, x, self.y)
            + _escape(text)
            + b") Tj ET"
        )

    def line(self, height: float = 14) -> None:
        """Move down one line of `height` points (new page if needed)."""
        self.y -= height
        if self.y < MARGIN:
            self.new_page()

    def rule(self, x1: float = MARGIN, x2: float = PAGE_W - MARGIN) -> None:
        self._ops().append(b"0.85 G 0.6 w %.2f %.2f m %.2f %.2f l S 0 G" % (x1, self.y, x2, self.y))

    def build(self, title: str = "") -> bytes:
        objects: list[bytes] = []

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        catalog = add(b"")  # filled below
        pages_obj = add(b"")
        font = b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
        font1 = add(font % b"Helvetica")
        font2 = add(font % b"Helvetica-Bold")
        kids = []
        for ops in self.pages:
            stream = b"\n".join(ops)
            content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
            page = add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                % (pages_obj, PAGE_W, PAGE_H)
                + b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> " % (font1, font2)
                + b"/Contents %d 0 R >>" % content
            )
            kids.append(page)
        objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
        objects[pages_obj - 1] = (
            b"<< /Type /Pages /Kids ["
            + b" ".join(b"%d 0 R" % k for k in kids)
            + b"] /Count %d >>" % len(kids)
        )
        info = add(b"<< /Title (" + _escape(title) + b") /Producer (Stripe emulator) >>")

        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref_at = len(out)
        out += b"xref\n0 %d\n" % (len(objects) + 1)
        out += b"0000000000 65535 f \n"
        for off in offsets:
            out += b"%010d 00000 n \n" % off
        out += (
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n"
            % (len(objects) + 1, catalog, info)
            + b"startxref\n%d\n%%%%EOF\n" % xref_at
        )
        return bytes(out)
