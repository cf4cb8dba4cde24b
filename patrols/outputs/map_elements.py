"""The folium elements ``map.html`` is made of, and the offline page they are rendered into.

folium writes one script from its elements' templates. Here the plan's own
layers and controls are folium elements too (``MacroElement`` subclasses with
branca templates) that call the page's Leaflet plugin (``webmap.js``): the
streets and the hotspot surface as compact encoded lines, a ``FeatureGroup``
per day and shift filled the first time it is shown, the sheet beside the map,
the browse panel, the legend and a re-plan's dropped stops. Large data goes
into ``<script type="application/json">`` blocks, which the browser neither
runs nor needs a policy for, and is parsed when first needed.

:class:`OfflinePage` is the branca ``Figure`` they are rendered into: Leaflet
and the plugin inline, folium's CDN links dropped for its map instance only, and
a Content-Security-Policy listing the SHA-256 of every inline script and style.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from patrols.errors import PatrolsError

CSP_PLACEHOLDER = "__PATROLS_CONTENT_SECURITY_POLICY__"
# Executable inline scripts (data blocks carry a type and are never run) and inline styles.
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_ANY_LINK = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=", re.I)


class MapNotOffline(PatrolsError, ValueError):
    """A map page that would load something from outside itself."""


def json_block(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: compact, and no ``<`` to end it early."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def script_safe(code: str) -> str:
    """Script text that cannot close its ``<script>`` element early (``<\\/`` means ``</`` in JS)."""
    return code.replace("</", "<\\/")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(page: str, img_hosts: str = "") -> str:
    """The page's policy: nothing may load, only its own inline scripts and styles (by hash) may run.

    Parameters
    ----------
    page
        The rendered page (the hashes are of its ``<script>`` and ``<style>`` elements' text).
    img_hosts
        Extra ``img-src`` sources (a configured tile host), or empty.

    Returns
    -------
    str
        The policy, for a ``<meta http-equiv="Content-Security-Policy">`` tag.
    """
    scripts = dict.fromkeys(_hash(s) for s in _INLINE_SCRIPT.findall(page))
    styles = dict.fromkeys(_hash(s) for s in _INLINE_STYLE.findall(page))
    img = "data:" + (f" {img_hosts}" if img_hosts else "")
    return (f"default-src 'none'; img-src {img}; script-src {' '.join(scripts)}; "
            f"style-src {' '.join(styles)}; base-uri 'none'; form-action 'none'")


class InlineCode(Element):
    """A script or style element holding its code (the code is data to the template, never parsed)."""

    _template = Template("{% if this.comment %}<!-- {{ this.comment }} -->\n{% endif %}"
                         "<{{ this.tag }}>\n{{ this.code }}\n</{{ this.tag }}>")

    def __init__(self, tag: str, code: str, comment: str = ""):
        super().__init__()
        self._name = "InlineCode"
        self.tag = tag
        self.code = script_safe(code) if tag == "script" else code
        self.comment = comment


class OfflinePage(Figure):
    """A branca ``Figure`` that is one self-contained file under a hash-based policy.

    Parameters
    ----------
    title
        The page title (plain text).
    img_hosts
        ``img-src`` sources beyond ``data:`` (a tile host), or empty.
    """

    _template = Template(
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "<title>{{ this.title }}</title>\n</head>\n<body>\n"
        "{{ this.html.render(**kwargs) }}\n"
        "<script>\n{{ this.script.render(**kwargs) }}\n</script>\n</body>\n</html>\n")

    def __init__(self, title: str, img_hosts: str = ""):
        super().__init__()
        self._name = "OfflinePage"
        self.title = html.escape(title)
        self.img_hosts = img_hosts
        # The policy comes first so it governs everything after it (and the service finds it).
        csp = f'<meta http-equiv="Content-Security-Policy" content="{CSP_PLACEHOLDER}">'
        self.header.add_child(Element(csp), name="csp")
        self.header.add_child(Element('<meta name="referrer" content="no-referrer">'), name="referrer")

    def render(self, **kwargs: Any) -> str:
        """The page, its policy filled in with the hashes of its inline scripts and styles.

        Raises
        ------
        MapNotOffline
            If any element of the page links to a file or host (a CDN script, a style sheet).
        """
        for element in _walk(self):
            if isinstance(element, JSCSSMixin) and (element.default_js or element.default_css):
                raise MapNotOffline(f"{element.get_name()} links {element.default_js + element.default_css}")
        page = super().render(**kwargs).replace("\r\n", "\n")
        link = _ANY_LINK.search(page)
        if link:
            raise MapNotOffline(f"the map links to a file or host: {page[link.start():link.start() + 120]}")
        return page.replace(CSP_PLACEHOLDER, content_security_policy(page, self.img_hosts), 1)


def _walk(element: Element) -> list[Element]:
    out = [element]
    for child in element._children.values():
        out += _walk(child)
    return out


def offline_map(**options: Any) -> folium.Map:
    """A ``folium.Map`` with no tiles and no CDN links of its own.

    folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs through the
    class lists ``Map.default_js`` / ``default_css``; this map gets empty lists of
    its own (instance attributes), so other maps made in the same process (the
    service makes many) keep folium's defaults, and the page inlines Leaflet itself.
    """
    m = folium.Map(tiles=None, **options)
    m.default_js = []
    m.default_css = []
    return m


class JsonBlock(Element):
    """A ``<script type="application/json">`` block: data the plugin reads by id, never run.

    The data is a value given to the template, so it is neither parsed as a template (a street
    named ``{{ x }}`` stays a name) nor lexed (a force's 50 MB took 3 s when it was).
    """

    _template = Template('<script type="application/json" id="{{ this.data_id }}">{{ this.data }}</script>')

    def __init__(self, data_id: str, data: str):
        super().__init__()
        self._name = "JsonBlock"
        self.data_id = data_id
        self.data = data


class WithJsonData:
    """Mixin of the elements whose ``data`` (JSON text) goes into the page as a :class:`JsonBlock`.

    Put it before the folium base class; the element's script finds the block by ``data_id``.
    """

    data: str

    @property
    def data_id(self) -> str:
        return self.get_name().replace("_", "-") + "-data"  # type: ignore[attr-defined]

    def render(self, **kwargs: Any) -> None:
        self.get_root().html.add_child(JsonBlock(self.data_id, self.data),  # type: ignore[attr-defined]
                                       name=self.data_id)
        super().render(**kwargs)  # type: ignore[misc]


class EncodedLines(WithJsonData, Layer):
    """Many lines drawn as one canvas polyline; lines as integer steps (see ``webmap.map_data``).

    Parameters
    ----------
    lines, origin, scale
        The encoded lines, the origin of their first step and the steps per degree.
    name, overlay, control, show
        As for any folium ``Layer``.
    **style
        Leaflet path options (``color``, ``weight``, ``pane``...).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.lines(
                {{ this.data_id|tojson }}, {{ this.style|tojavascript }});
        {% endmacro %}""")

    def __init__(self, lines: list[list[int]], origin: list[int], scale: int, name: str, overlay: bool = True,
                 control: bool = True, show: bool = True, **style: Any):
        super().__init__(name=name, overlay=overlay, control=control, show=show)
        self.data = json_block({"lines": lines, "origin": origin, "scale": scale})
        self._name = "EncodedLines"
        self.style = style


class HotspotSurface(WithJsonData, Layer):
    """The hotspot surface: street segments in score classes, each class one colour and width.

    Parameters
    ----------
    classes
        ``[colour, weight, low, high]`` per class.
    lines
        Encoded lines of each class.
    origin, scale
        As for :class:`EncodedLines`.
    name, show
        As for any folium ``Layer``.
    **style
        Leaflet path options shared by every class.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.surface(
                {{ this.data_id|tojson }}, {{ this.style|tojavascript }});
        {% endmacro %}""")

    def __init__(self, classes: list[list[Any]], lines: list[list[list[int]]], origin: list[int], scale: int,
                 name: str, show: bool = True, **style: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self.data = json_block({"classes": classes, "lines": lines, "origin": origin, "scale": scale})
        self._name = "HotspotSurface"
        self.style = style


class PlanView(WithJsonData, MacroElement):
    """The plan's routes and selection (``L.patrols.View``); its index (units, slots, routes) as data."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.view(
                {{ this._parent.get_name() }}, {{ this.data_id|tojson }});
        {% endmacro %}""")

    def __init__(self, index: dict[str, Any]):
        super().__init__()
        self._name = "PlanView"
        self.data = json_block(index)


class SlotRoutes(WithJsonData, MacroElement):
    """One day-shift's routes, given to its ``FeatureGroup`` (the parent) to draw the first time it shows.

    Parameters
    ----------
    view
        The :class:`PlanView`.
    slot
        The day-shift's index in the view's slots.
    routes
        ``[route index, encoded path, stops]`` per route of the day-shift.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this.view.get_name() }}.addSlot(
                {{ this.slot }}, {{ this._parent.get_name() }}, {{ this.data_id|tojson }});
        {% endmacro %}""")

    def __init__(self, view: PlanView, slot: int, routes: list[list[Any]]):
        super().__init__()
        self._name = "SlotRoutes"
        self.data = json_block(routes)
        self.view = view
        self.slot = slot


class DroppedStops(Layer):
    """A re-plan's layer of the parent's stops nobody makes now (``L.patrols.dropped``).

    Parameters
    ----------
    view
        The :class:`PlanView`; the stops are in its index (``replan.dropped``).
    name, show
        As for any folium ``Layer`` (an overlay, in the layer control).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.patrols.dropped({{ this.view.get_name() }});
        {% endmacro %}""")

    def __init__(self, view: PlanView, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "DroppedStops"
        self.view = view


class ShiftSheet(MacroElement):
    """The sheet beside the map: one select for unit, day and shift; its stop list; the summary."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <aside id="sheet">
          <section class="pick">
            <label for="pick">Unit-shift</label>
            <select id="pick"></select>
            <p id="pick-links" class="links"></p>
          </section>
          <section id="stops" hidden>
            <h2></h2>
            <p class="meta"></p>
            <table id="stop-list">
              <thead><tr><th>#</th><th>time</th><th>place</th><th>kind</th><th>dwell</th></tr></thead>
              <tbody></tbody>
            </table>
          </section>
          <section id="summary" class="summary"></section>
        </aside>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            L.patrols.sheet({{ this.view.get_name() }},
                {pick: "pick", links: "pick-links", stops: "stops", summary: "summary"});
        {% endmacro %}""")

    def __init__(self, view: PlanView):
        super().__init__()
        self._name = "ShiftSheet"
        self.view = view


class BrowseControl(MacroElement):
    """The browse panel: a day x shift grid and a box per unit (disabled while one unit-shift is read)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.patrolsBrowse({{ this.view.get_name() }}, {position: {{ this.position|tojson }}})
                .addTo({{ this._parent.get_name() }});
        {% endmacro %}""")

    def __init__(self, view: PlanView, position: str = "topright"):
        super().__init__()
        self._name = "BrowseControl"
        self.view = view
        self.position = position


class Legend(MacroElement):
    """The legend: stop kinds, numbered stops, routes by day, the hotspot surface's scale."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.patrolsLegend({{ this.view.get_name() }}, {position: {{ this.position|tojson }}})
                .addTo({{ this._parent.get_name() }});
        {% endmacro %}""")

    def __init__(self, view: PlanView, position: str = "bottomleft"):
        super().__init__()
        self._name = "Legend"
        self.view = view
        self.position = position


class StartView(MacroElement):
    """Shows the first routes and marks the page ready; added last, after every layer and control."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this.view.get_name() }}.start();
        {% endmacro %}""")

    def __init__(self, view: PlanView):
        super().__init__()
        self._name = "StartView"
        self.view = view


class Marking(MacroElement):
    """The security marking across the top of the page (unredacted maps)."""

    _template = Template("""
        {% macro html(this, kwargs) %}<div id="banner">{{ this.text }}</div>{% endmacro %}""")

    def __init__(self, text: str):
        super().__init__()
        self._name = "Marking"
        self.text = html.escape(text)
