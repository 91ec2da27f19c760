"""Reduction: the coarsest exact lumping of a network (lumping.py, with aggregate.py) and its reduction on an
input box (domain.py: stably inactive ReLUs removed, stably linear neurons folded)."""
