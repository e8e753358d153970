"""EPUB files made for tests: a real EPUB 3 container (mimetype, container, package, nav)."""

from __future__ import annotations

import html
import zipfile
from collections.abc import Sequence
from pathlib import Path

_CONTAINER = (
    '<?xml version="1.0"?><container version="1.0" '
    'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
    '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
    "</rootfiles></container>"
)


def make_epub(
    path: Path,
    chapters: Sequence[tuple[str, Sequence[str]]],
    title: str = "",
    encryption_xml: str | None = None,
) -> Path:
    """An EPUB whose chapters are (heading, paragraphs); ``title`` goes in its metadata.

    ``encryption_xml`` adds ``META-INF/encryption.xml`` (what DRM and font
    obfuscation write) with that content.
    """
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # first, stored
        z.writestr("META-INF/container.xml", _CONTAINER)
        if encryption_xml is not None:
            z.writestr("META-INF/encryption.xml", encryption_xml)
        items, spine, nav = [], [], []
        for i, (heading, paragraphs) in enumerate(chapters, 1):
            body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
            z.writestr(
                f"OEBPS/c{i}.xhtml",
                '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f"<title>{html.escape(heading)}</title></head><body>"
                f"<h1>{html.escape(heading)}</h1>{body}</body></html>",
            )
            items.append(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>')
            spine.append(f'<itemref idref="c{i}"/>')
            nav.append(f'<li><a href="c{i}.xhtml">{html.escape(heading)}</a></li>')
        z.writestr(
            "OEBPS/nav.xhtml",
            '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head>'
            f'<body><nav epub:type="toc"><ol>{"".join(nav)}</ol></nav></body></html>',
        )
        z.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
            'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="id">urn:test:{path.stem}</dc:identifier>'
            f"<dc:title>{html.escape(title)}</dc:title><dc:language>en</dc:language></metadata>"
            f'<manifest>{"".join(items)}<item id="nav" href="nav.xhtml" '
            'media-type="application/xhtml+xml" properties="nav"/></manifest>'
            f"<spine>{''.join(spine)}</spine></package>",
        )
    return path


def drm_encryption_xml(uri: str = "OEBPS/c1.xhtml") -> str:
    """What a DRM scheme writes: the chapter's text itself is encrypted."""
    return (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
        f'<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>'
        "</enc:EncryptedData></encryption>"
    )


def font_obfuscation_xml() -> str:
    """What many ordinary e-books write: only an embedded font is obfuscated."""
    return drm_encryption_xml("OEBPS/fonts/Body.otf").replace(
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "http://www.idpf.org/2008/embedding"
    )
