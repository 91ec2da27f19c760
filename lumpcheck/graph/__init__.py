"""Graph IR for real architectures (CNNs, ResNets, BatchNorm, pooling, softmax): read exactly, evaluate, write,
reduce channels (exactly, or on an input box), certify and check.

Layers (for the package restructure): IR — `ops`, `ir`; numbers/semantics — `radical`, `kernels`, `evaluate`;
io — `onnx_values`, `onnx_fold`, `onnx_layout`, `onnx_ops`, `onnx_read`, `onnx_write`, `certificate`;
bounds — `bounds`; reduce — `relations`, `transfer`, `channels`, `lump`, `rewrite`, `dense` (bridge to
`Network`); checker kernel — `check_rules`, `check` (imports only ir/ops/kernels/exact/bounds/certificate);
apps — `files` (file-level reduce/check hooks).
"""
