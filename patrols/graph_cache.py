"""The street-graph cache: a network file, once read, kept as a pickle for the next read.

Reading a network is slow where it parses text: an OSM extract is built into a
graph (:mod:`patrols.osm`), and an OSMnx GraphML file is XML whose every
attribute OSMnx converts from a string (1.1 s for Westminster's 7,500 streets,
against 0.07 s to unpickle the same graph). Every command, every service job
and every Dask worker reads its area's network cold, so both kinds of file are
cached the same way.

A cache file is keyed by the file's content (SHA-256), the boundary it was
clipped to and the buffer, what read it (``kind`` and its format version) and
the OSMnx version and tags, so an edited file, another boundary or an upgrade
reads the file again. It lives in ``.patrols-cache`` beside the file when that
folder may be written, else in ``$XDG_CACHE_HOME/patrols`` (``~/.cache/patrols``).
A cache that cannot be read is rebuilt and one that cannot be written is
skipped: the cache never makes a read fail. ``PATROLS_GRAPH_CACHE=off`` in the
environment turns it off (benchmarks that time a cold read). It is a pickle:
point ``cache_dir`` only at a folder you trust.

Written here rather than taken from a library: the graph must come back as the
very ``networkx`` object (attribute types, node and edge order) that the read
gave, which a pickle does and a general key-value cache adds nothing to.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from importlib.metadata import version as _pkg_version
from pathlib import Path

import networkx as nx
import osmnx as ox
from shapely.geometry.base import BaseGeometry


def writable(folder: Path) -> bool:
    """Whether ``folder`` may be written. A folder without any write permission bit
    counts as read-only even for root (who could write it), e.g. shared data."""
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


def default_cache_dir(path: Path) -> Path:
    """``.patrols-cache`` beside ``path`` if it may be written (made if need be), else the user's cache."""
    beside = path.parent / ".patrols-cache"
    if beside.is_dir() and writable(beside):
        return beside
    if not beside.exists() and writable(path.parent):
        try:
            beside.mkdir()
            return beside
        except OSError:
            pass
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "patrols"


def cache_key(path: Path, boundary: BaseGeometry | None, buffer_m: float, kind: str = "osm",
              version: int = 1) -> str:
    """The cache key of reading ``path`` (clipped to ``boundary`` plus ``buffer_m``) by ``kind``."""
    with path.open("rb") as fh:
        content = hashlib.file_digest(fh, "sha256").hexdigest()
    shape = hashlib.sha256(boundary.wkb).hexdigest() if boundary is not None else "none"
    settings = (
        # without a boundary the buffer changes nothing, so it does not split the cache
        version, content, shape, float(buffer_m) if boundary is not None else None,
        _pkg_version("osmnx"),
        tuple(ox.settings.useful_tags_way), tuple(ox.settings.useful_tags_node),
    )
    if kind != "osm":  # the OSM key predates kinds: existing caches stay valid
        settings = (kind, *settings)
    return hashlib.sha256(repr(settings).encode()).hexdigest()


def cached_graph(path: Path, build: Callable[[], nx.MultiDiGraph], *, boundary: BaseGeometry | None,
                 buffer_m: float, cache_dir: str | os.PathLike[str] | bool | None, kind: str = "osm",
                 version: int = 1) -> nx.MultiDiGraph:
    """The graph ``build()`` reads from ``path``, from the cache when it holds it.

    Parameters
    ----------
    path
        The network file (its content is part of the key).
    build
        Reads the graph when the cache does not hold it.
    boundary, buffer_m
        What the graph is clipped to (part of the key).
    cache_dir
        The cache folder; ``None`` or ``True``: :func:`default_cache_dir`; ``False`` (or
        ``PATROLS_GRAPH_CACHE=off`` in the environment): no cache.
    kind, version
        What reads the file and the version of what it builds (part of the key).

    Returns
    -------
    networkx.MultiDiGraph
        The graph, equal to ``build()``'s.
    """
    if cache_dir is False or os.environ.get("PATROLS_GRAPH_CACHE", "").lower() == "off":
        return build()
    folder = default_cache_dir(path) if cache_dir in (None, True) else Path(cache_dir)
    key = cache_key(path, boundary, buffer_m, kind, version)
    cache_file = folder / f"{path.name}.{key[:32]}.graph.pickle"
    try:
        with cache_file.open("rb") as fh:
            cached = pickle.load(fh)
        if isinstance(cached, nx.MultiDiGraph):
            return cached
    except Exception:  # missing, unreadable, truncated or stale: read the file again, never an error
        pass
    graph = build()
    write_cache(cache_file, graph)
    return graph


def write_cache(cache_file: Path, graph: nx.MultiDiGraph) -> None:
    """Pickle ``graph`` to ``cache_file`` atomically; a cache that cannot be written is skipped."""
    tmp = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_file.parent, suffix=".tmp", delete=False) as fh:
            tmp = fh.name
            pickle.dump(graph, fh, protocol=5)
        os.replace(tmp, cache_file)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
