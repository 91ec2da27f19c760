"""The graph IR for real architectures (CNNs, ResNets, BatchNorm, pooling, softmax), with exact semantics:
`ops` (frozen checked operations with shape inference), `dag` (Graph, Node, TensorSpec), `radical` (exact sums of
rationals times square roots, for BatchNorm), `kernels` and `evaluate` (float64 and exact evaluation), `dense` (the
bridge to the fast dense `Network` for dense chains).

The rest of the graph pipeline lives in its layers: the ONNX graph reader/writer in io/onnx (graph_*), sound bounds
in bounds (graph_interval, graph_symbolic), channel lumping in reduction (channel_*), certificates in prove
(graph_records, graph_prover), the independent checker in checker (graph*), and the file pipeline in apps.
"""
