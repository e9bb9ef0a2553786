"""One word per concept: no text a branch or HQ reads uses a word docs/glossary.md lists as wrong.

Scanned: the finding catalogue, every text of a generated branch workbook (cells, validation
prompts, the 入力チェック's formulas), a branch's feedback workbook, and the string literals of the
modules that write them.  The national workbook's texts (kpisheet/report/) are
scanned too; the words it still uses are listed in REPORT_KNOWN so a new one fails while the
known ones are reported to its owner.
"""

from __future__ import annotations

import ast
import html
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from kpisheet.domain.catalogue import catalogue_for_fy
from kpisheet.domain.findings import CODES
from kpisheet.template.build import build_template

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
# seed 003's own table and legend, which 評価一覧 and 取組状況 reproduce as printed
REPORT_KNOWN = {"「結果」", "/結果：「/", "KPI目標", "KPI結果"}


@dataclass(frozen=True)
class Variant:
    text: str  # as the glossary writes it: word, /regex/ or 「whole cell」

    def found_in(self, texts: list[str]) -> list[str]:
        if self.text.startswith("「"):
            word = self.text[1:-1]
            return [t for t in texts if t.strip() == word]
        pattern = re.compile(self.text[1:-1] if self.text.startswith("/") else re.escape(self.text))
        return [t for t in texts if pattern.search(t)]


def variants() -> list[Variant]:
    out = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("用語", "---"):
            continue
        out += [Variant(v.strip()) for v in re.split(r"、(?![^/]*/)", cells[2]) if v.strip()]
    return out


def _literals(module: Path) -> list[str]:
    """Every string literal of a module, docstrings left out; an f-string as one text with 0 for each
    value it formats (「第{term}期末目標」 reads 「第0期末目標」)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = ["".join(v.value if isinstance(v, ast.Constant) else "0" for v in n.values)
           for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]
    return out + [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and id(n) not in docstrings and id(n) not in parts]


def _xlsx_texts(data: bytes) -> list[str]:
    """Texts of a workbook as a reader sees them: shared and inline strings, validation prompts, formula strings."""
    out: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if not name.endswith(".xml") or "_meta" in name:
                continue
            xml = z.read(name).decode("utf-8")
            out += [html.unescape(t) for t in re.findall(r"<t[^>]*>([^<]*)</t>", xml)]
            out += [html.unescape(t) for t in re.findall(r'(?:prompt|error|promptTitle|errorTitle)="([^"]*)"', xml)]
            for formula in re.findall(r"<f>([^<]*)</f>", xml):
                out += re.findall(r'"([^"]+)"', html.unescape(formula))
    return out


def _hits(texts: list[str]) -> dict[str, list[str]]:
    return {v.text: found[:3] for v in variants() if (found := v.found_in(texts))}


def test_the_glossary_lists_wrong_variants() -> None:
    words = [v.text for v in variants()]
    assert {"計画どおり", "前年度値", "自支部の値", "KPI目標", "判定目標"} <= set(words)
    assert len(words) >= 25


def test_the_finding_catalogue_uses_the_glossary_words() -> None:
    texts = [d.ja for d in CODES.values()]
    assert _hits(texts) == {}


@pytest.mark.parametrize("fy,code", [(2024, "10"), (2024, "00"), (2023, "11")])
def test_a_branch_workbook_uses_the_glossary_words(fy: int, code: str) -> None:
    data = build_template(catalogue_for_fy(fy), fy, code)
    assert _hits(_xlsx_texts(data)) == {}


BRANCH_TEXT_MODULES = [
    *(f"template/{m}.py" for m in ("build", "book", "layout", "guide", "kpi_sheet", "measure_sheet", "meta")),
    "check/selfcheck.py",
    *(f"write/feedback/{m}.py" for m in ("build", "summary", "items", "patch", "fallback")),
    "read/names.py", "domain/catalogue.py"]


@pytest.mark.parametrize("module", BRANCH_TEXT_MODULES)
def test_the_modules_writing_branch_texts_use_the_glossary_words(module: str) -> None:
    assert _hits(_literals(ROOT / "kpisheet" / module)) == {}


def test_a_feedback_workbook_uses_the_glossary_words(tmp_path: Path) -> None:
    from kpisheet.write.feedback.build import feedback_bytes

    from .consolidate_helpers import one_branch_with_e401

    cons, _ = one_branch_with_e401(tmp_path, date(2024, 10, 1))
    sub = cons.submissions[0]
    data = feedback_bytes(cons, sub, [f for f in cons.findings if f.file == sub.path])
    texts = _xlsx_texts(data)
    assert "確認事項" in " ".join(texts)
    template_texts = set(_xlsx_texts(Path(sub.path).read_bytes()))
    hits = _hits([t for t in texts if t not in template_texts])
    assert set(hits) <= REPORT_KNOWN, hits  # its 実施状況 sheet prints seed 003's own table heads


def test_seed_003_headings_stand_only_in_the_tables_that_reproduce_seed_003() -> None:
    """KPI目標 / KPI結果 / the 結果 legend: in plan_status.py (実施状況) and the lists' 評価一覧, nowhere else."""
    modules = [p for p in (ROOT / "kpisheet").rglob("*.py") if p.name not in ("plan_status.py", "lists.py", "texts.py")]
    found = {m.name: h for m in modules if (h := _hits(_literals(m)).keys() & {"KPI目標", "KPI結果"})}
    assert found == {}


def test_the_national_workbook_texts_use_no_new_wrong_word() -> None:
    """The report's texts (kpisheet/report/): only seed 003's own headings (REPORT_KNOWN) deviate."""
    hits = _hits([t for module in sorted((ROOT / "kpisheet" / "report").glob("*.py")) for t in _literals(module)])
    assert set(hits) <= REPORT_KNOWN, {k: v for k, v in hits.items() if k not in REPORT_KNOWN}
