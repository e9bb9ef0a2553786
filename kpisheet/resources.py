"""Where kpisheet's own data files live: the KPI catalogues (templates/) and JSON Schemas (schemas/).

In the repository (and an editable install) they are the top-level templates/
and schemas/ folders HQ edits; an installed kpisheet ships them as the
packages kpisheet.templates and kpisheet.schemas (see pyproject.toml).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

Kind = Literal["templates", "schemas"]


def data_dir(kind: Kind) -> Path:
    """templates/ or schemas/: the repository copy if there is one, else the packaged one."""
    repo = Path(__file__).resolve().parent.parent / kind
    if repo.is_dir():
        return repo
    return Path(str(resources.files(f"kpisheet.{kind}")))
