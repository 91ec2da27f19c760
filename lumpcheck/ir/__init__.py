"""The exact network IR, the lowest layer: exact numbers (exact.py), activations and the facts about them
(activation.py), normalisation (normalization.py), networks and their evaluation (network.py), input boxes
(domain.py), the reduction relation (relation.py), honest rounding (rounding.py) and the one meaning of "two
models agree on a box" (semantics.py). Nothing here imports another lumpcheck package except `errors`."""
