"""Claims weaker than equality, with certified bounds: approximate lumping with a certified error bound on a box
(approx.py) and ε-certificates for exports whose float format rounds the exact quotient (certificate.py)."""
