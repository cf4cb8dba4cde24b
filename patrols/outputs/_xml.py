"""Small helpers the XML writers (GPX, KML) share."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime


def utc(moment: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (what GPX and KML readers expect)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append a child element with optional text and attributes, and return it."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def to_text(root: ET.Element) -> str:
    """The document as indented UTF-8 XML text with its declaration."""
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
