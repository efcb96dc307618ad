"""qsys tests: unit/ (pure logic), integration/ (real daemons on loopback), cluster/ (netns)."""

from pathlib import Path

# Real Son of Grid Engine 8.1.9 output the formats are compared with (a copy of shared/reference).
REFERENCE = Path(__file__).resolve().parent / "reference" / "sge-8.1.9"
