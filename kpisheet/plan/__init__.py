"""The plan season: each branch's 事業計画 workbook, generated, read back, checked, collected and compared."""
