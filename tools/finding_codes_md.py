"""Print the finding-code table for README.md from kpisheet.domain.findings.CODES.

    .venv/bin/python tools/finding_codes_md.py
"""

from kpisheet.domain.findings import CODES

print("| code | severity | what | 日本語メッセージ（例） |")
print("|---|---|---|---|")
for code, d in CODES.items():
    ja = d.ja.replace("|", "｜")
    print(f"| {code} | {d.severity.value} | {d.title} | {ja} |")
