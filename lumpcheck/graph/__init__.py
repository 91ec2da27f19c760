"""Graph IR for real architectures (CNNs, ResNets, BatchNorm, pooling, softmax): read, evaluate, write, reduce.

Layers (to become ir/, io/, reduce/, … in the package restructure): `ops`/`ir` (the IR), `kernels`/`radical`/
`evaluate` (float and exact semantics), `onnx_*` (ONNX reader and writer), `dense` (bridge to `Network`).
"""
