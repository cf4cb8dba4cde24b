"""The browser assets ``map.html`` carries inside itself (Leaflet's script and style).

They come from the npm registry at install time (``package.json`` at the
repository root, ``npm ci`` in ``make setup``) and are never committed. Here they
are read from ``node_modules`` and made self-contained: the images the style
sheet points at become ``data:`` URIs, the source-map comment is dropped and
line ends are made LF (the page's policy holds hashes of the text as a browser
reads it), so the page asks no host, not even the local disk, for anything.

When the assets are missing, :func:`leaflet_assets` raises
:class:`MapAssetsMissing` with the command that installs them: a map that
cannot load its own scripts is worse than no map, and a bundle is all or nothing.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from patrols.errors import PatrolsError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Set to a node_modules folder to use assets installed somewhere else (e.g. a service image).
ENV_NODE_MODULES = "PATROLS_NODE_MODULES"


class MapAssetsMissing(PatrolsError, FileNotFoundError):
    """Leaflet is not installed where the map writer looks for it."""


@dataclass(frozen=True)
class Asset:
    """An inlined browser library: its script, its style and its version."""

    name: str
    version: str
    js: str
    css: str


def node_modules() -> Path:
    """The ``node_modules`` folder assets are read from (``$PATROLS_NODE_MODULES`` or the repo's)."""
    return Path(os.environ.get(ENV_NODE_MODULES) or REPO_ROOT / "node_modules")


def _inline_images(css: str, base: Path) -> str:
    """Replace ``url(images/x.png)`` with a data URI of the file (left alone if it is not there)."""

    def swap(match: re.Match[str]) -> str:
        ref = match.group(1).strip("'\"")
        target = base / ref
        if ref.startswith(("data:", "#")) or not target.is_file():
            return match.group(0)
        mime = "image/png" if target.suffix == ".png" else "image/svg+xml"
        return f"url(data:{mime};base64,{base64.b64encode(target.read_bytes()).decode('ascii')})"

    return re.sub(r"url\(([^)]*)\)", swap, css)


def _strip_source_map(text: str) -> str:
    # A sourceMappingURL invites DevTools to fetch a file beside the page.
    return re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "\n", text)


def _unix_lines(text: str) -> str:
    # leaflet.css has CRLF line ends; a browser reads them as LF, so the page's policy hashes LF text.
    return text.replace("\r\n", "\n").replace("\r", "\n")


@cache
def _load(root: str) -> Asset:
    dist = Path(root) / "leaflet" / "dist"
    js_path, css_path = dist / "leaflet.js", dist / "leaflet.css"
    if not (js_path.is_file() and css_path.is_file()):
        raise MapAssetsMissing(
            f"{js_path}: Leaflet is not installed, so map.html cannot be made self-contained; "
            "run `make setup` (or `npm ci` in the repository) or set "
            f"{ENV_NODE_MODULES} to a node_modules folder that has leaflet")
    version = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))["version"]
    js = _unix_lines(_strip_source_map(js_path.read_text(encoding="utf-8")))
    css = _unix_lines(_inline_images(_strip_source_map(css_path.read_text(encoding="utf-8")), dist))
    return Asset("leaflet", version, js, css)


def leaflet_assets() -> Asset:
    """Leaflet's script and style, ready to be put inside a page.

    Returns
    -------
    Asset
        The script and the style with every image it references inlined.

    Raises
    ------
    MapAssetsMissing
        When ``node_modules/leaflet`` is not installed.
    """
    return _load(str(node_modules()))
