"""XMP: csrtouch's provenance written into a photo's XMP packet, the rest kept as it was.

A result records what made it (``xmp:CreatorTool``, as EXIF ``Software`` does) and how
(``csrtouch:Style``, ``csrtouch:Strength``, ...) in an ``rdf:Description`` of its own,
added to the photo's packet. The user's XMP (captions, keywords, ratings, an editor's
history) is not parsed and written out again, which would lose its layout, comments and
padding: csrtouch's description is inserted into the text, after an earlier run's
properties and ``xmp:CreatorTool`` are taken out of it, and the result is checked to hold
every property the packet had. A packet that cannot be edited that safely (not well-formed,
a DTD, no ``rdf:RDF``) is left exactly as it was, without the provenance.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping

#: csrtouch's XMP namespace, and the prefix it writes it with.
NAMESPACE = "http://ns.csrtouch.org/xmp/1.0/"
PREFIX = "csrtouch"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XPACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"  # the fixed id XMP packets carry
# Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# The packet's markup: comments, CDATA, processing instructions and tags, whose quoted
# attribute values may hold ">".
_MARKUP = re.compile(r"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<(?:[^"'>]|"[^"]*"|'[^']*')*>""", re.S)
_TAG_NAME = re.compile(r"</?([^\s/>!?]+)")
_ATTRIBUTE = re.compile(r"""\s+([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')""")
_EMPTY_DESCRIPTION = re.compile(
    r"""<[\w.-]+:Description\s+[\w.-]+:about\s*=\s*(?:"[^"]*"|'[^']*')"""
    r"""(?:\s+xmlns:[\w.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/>"""
)


def with_provenance(packet: bytes | None, creator_tool: str | None, properties: Mapping[str, str]) -> bytes | None:
    """``packet`` with ``xmp:CreatorTool`` and ``csrtouch:<name>`` set; a new packet if it
    is None (see the module doc).

    Args:
        packet: the photo's XMP packet, UTF-8.
        creator_tool: recorded as ``xmp:CreatorTool``; None leaves the packet's own.
        properties: csrtouch's properties, name -> text, e.g. ``{"Style": "expertC"}``.

    Returns:
        The packet with the provenance, or ``packet`` itself where it cannot be edited
        without risk to what it holds.
    """
    for name in properties:
        if not _NAME.match(name):
            raise ValueError(f"XMP property names are XML names, not {name!r}")
    if packet is None:
        rdf = "rdf"
        description = _description(rdf, "", creator_tool, properties)
        return (
            f'<?xpacket begin="\ufeff" id="{_XPACKET_ID}"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            f' <rdf:RDF xmlns:rdf="{RDF}">\n  {description}\n </rdf:RDF>\n'
            "</x:xmpmeta>\n"
            '<?xpacket end="w"?>'
        ).encode()
    try:
        merged = _merged(packet.decode("utf-8"), creator_tool, properties)
    except (UnicodeDecodeError, ET.ParseError, ValueError):
        return packet
    return packet if merged is None else merged.encode("utf-8")


def _merged(text: str, creator_tool: str | None, properties: Mapping[str, str]) -> str | None:
    """The packet's text with the provenance, or None where it cannot be edited safely."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None  # XMP allows no DTD; entities are how hostile XML blows up
    before, bound = _parse(text)
    rdf = next((p for p, uri in bound if uri == RDF), "")
    if not rdf:
        return None  # no rdf:RDF, or one in the default namespace
    about = next((d.get(f"{{{RDF}}}about") for d in before.iter(f"{{{RDF}}}Description")), None) or ""
    # Out with an earlier run's properties, and the CreatorTool this one replaces.
    managed = {f"{p}:" for p in _prefixes(bound, NAMESPACE)}
    replaced = {f"{p}:CreatorTool" for p in _prefixes(bound, XMP_BASIC)} if creator_tool is not None else set()

    def is_managed(qname: str) -> bool:
        return qname in replaced or any(qname.startswith(p) for p in managed)

    pieces: list[str] = []
    closing, empty_rdf = -1, -1
    position, skipping = 0, ""
    for token in _MARKUP.finditer(text):
        markup = token.group()
        name = _TAG_NAME.match(markup)
        if skipping:  # inside a managed property's element: drop it up to its end tag
            if markup == f"</{skipping}>" or re.fullmatch(rf"</{re.escape(skipping)}\s*>", markup):
                skipping, position = "", token.end()
            continue
        pieces.append(text[position : token.start()])
        position = token.end()
        if name is None:  # comment, CDATA, processing instruction
            pieces.append(markup)
        elif markup.startswith("</"):
            if name.group(1) == f"{rdf}:RDF":
                closing = len(pieces)
            pieces.append(markup)
        elif is_managed(name.group(1)):
            if not markup.endswith("/>"):
                skipping = name.group(1)
        else:
            kept = _ATTRIBUTE.sub(lambda m: "" if is_managed(m.group(1)) else m.group(), markup)
            if name.group(1) == f"{rdf}:Description" and _EMPTY_DESCRIPTION.fullmatch(kept):
                pieces[-1] = pieces[-1].rstrip()  # an earlier run's description, now empty
                continue
            if name.group(1) == f"{rdf}:RDF" and kept.endswith("/>"):
                empty_rdf = len(pieces)
            pieces.append(kept)
    pieces.append(text[position:])
    description = _description(rdf, about, creator_tool, properties)
    if closing >= 0:
        pieces.insert(closing, f"  {description}\n ")
    elif empty_rdf >= 0:  # <rdf:RDF .../>, holding nothing yet
        tag = pieces[empty_rdf]
        pieces[empty_rdf] = f"{tag[:-2].rstrip()}>\n  {description}\n </{rdf}:RDF>"
    else:
        return None
    text = "".join(pieces)
    after, _ = _parse(text)
    # Every property the packet had is still there, and csrtouch's are there once.
    keep = creator_tool is not None
    if _properties(before, keep) != _properties(after, keep):
        return None
    if _ours(after, keep) != _ours_expected(creator_tool, properties):
        return None
    return text


def _parse(text: str) -> tuple[ET.Element, list[tuple[str, str]]]:
    """The packet's XML tree, and the ``(prefix, namespace)`` bindings it makes, in order
    (ElementTree forgets the prefixes)."""
    parser = ET.XMLPullParser(events=("start-ns", "end"))
    parser.feed(text.rstrip("\0 \t\r\n"))  # some writers pad packets with NULs
    parser.close()
    bound, root = [], None
    for event, item in parser.read_events():
        if event == "start-ns":
            bound.append(item)
        else:
            root = item  # the last element to end is the root
    if root is None:
        raise ValueError("no root element")
    return root, bound


def _prefixes(bound: list[tuple[str, str]], uri: str) -> list[str]:
    """Every prefix bound to ``uri``."""
    return sorted({prefix for prefix, namespace in bound if namespace == uri and prefix})


def _ours(root: ET.Element, creator_tool: bool) -> Counter[tuple[str, str]]:
    """csrtouch's properties (and xmp:CreatorTool) in a packet, as attributes or elements."""

    def managed(qname: str) -> bool:
        return qname.startswith(f"{{{NAMESPACE}}}") or (creator_tool and qname == f"{{{XMP_BASIC}}}CreatorTool")

    found: Counter[tuple[str, str]] = Counter()
    for element in root.iter():
        if managed(element.tag):
            found[(element.tag, element.text or "")] += 1
        found.update((key, value) for key, value in element.attrib.items() if managed(key))
    return found


def _ours_expected(creator_tool: str | None, properties: Mapping[str, str]) -> Counter[tuple[str, str]]:
    expected = Counter((f"{{{NAMESPACE}}}{name}", _NOT_XML.sub("?", value)) for name, value in properties.items())
    if creator_tool is not None:
        expected[(f"{{{XMP_BASIC}}}CreatorTool", _NOT_XML.sub("?", creator_tool))] += 1
    return expected


def _properties(root: ET.Element, creator_tool: bool) -> Counter[tuple[object, ...]]:
    """What the packet says, bar what csrtouch manages: every element with its attributes
    and text, an ``rdf:Description`` that holds nothing aside."""

    def managed(qname: str) -> bool:
        return qname.startswith(f"{{{NAMESPACE}}}") or (creator_tool and qname == f"{{{XMP_BASIC}}}CreatorTool")

    found: Counter[tuple[object, ...]] = Counter()
    for element in root.iter():
        if managed(element.tag):
            continue
        attributes = tuple(sorted((k, v) for k, v in element.attrib.items() if not managed(k)))
        bare = len(element) == 0 and {k for k, _ in attributes} <= {f"{{{RDF}}}about"}
        if element.tag == f"{{{RDF}}}Description" and bare:
            continue
        found[(element.tag, attributes, (element.text or "").strip())] += 1
    return found


def _description(rdf: str, about: str, creator_tool: str | None, properties: Mapping[str, str]) -> str:
    """csrtouch's ``rdf:Description``, its properties as attributes."""
    attributes = [f'{rdf}:about="{_attribute(about)}"', f'xmlns:xmp="{XMP_BASIC}"', f'xmlns:{PREFIX}="{NAMESPACE}"']
    if creator_tool is not None:
        attributes.append(f'xmp:CreatorTool="{_attribute(creator_tool)}"')
    attributes += [f'{PREFIX}:{name}="{_attribute(value)}"' for name, value in properties.items()]
    return f"<{rdf}:Description " + "\n   ".join(attributes) + "/>"


def _attribute(value: str) -> str:
    """``value`` escaped for a double-quoted attribute; characters XML cannot hold as "?"."""
    # As xml.sax.saxutils.escape with these entities, whose import (urllib.request, http,
    # ssl, email) cost every command 20 ms of start-up.
    text = _NOT_XML.sub("?", value).replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for char, entity in (('"', "&quot;"), ("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;")):
        text = text.replace(char, entity)
    return text
