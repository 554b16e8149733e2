# The error is in an imported module: codon-lsp shows it on shapes.py too.
from geometry.shapes import describe

print(describe(2.0, 3.5))
