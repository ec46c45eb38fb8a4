"""Cell texts a spreadsheet would run as formulas (OWASP's CSV injection starts)."""

HOSTILE = ['=HYPERLINK("http://evil.test")', "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]
