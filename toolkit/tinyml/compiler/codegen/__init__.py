"""Code generation: IR -> C sources calling the tinyml runtime."""
from tinyml.compiler.codegen.compiler import CompileResult, TensorInfo, compile_graph, compile_model

__all__ = ["CompileResult", "TensorInfo", "compile_graph", "compile_model"]
