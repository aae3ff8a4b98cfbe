# The N-API binding of the engine (node-addon-api). Built by native/scripts/build-binding.sh
# after CMake has built ../build/libdeepinfer_engine.a (position-independent, so it links into
# this shared object). Output: build/Release/deepinfer_native.node.
{
  "targets": [
    {
      "target_name": "deepinfer_native",
      "sources": [
        "src/addon.cc",
        "src/engine-state.cc",
        "src/engine-wrap.cc",
        "src/create-engine.worker.cc",
        "src/step.worker.cc",
        "src/step-input.parser.cc",
        "src/js-values.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../include"
      ],
      # node-addon-api's own gyp target (node_addon_api_except) is deliberately not used: its
      # generated files can land in a stray node_modules/ (see STACK.md); the defines are enough.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      # The CUDA backend, when native/ was built with it (see scripts/cuda-link-flags.sh), comes
      # first: it is linked whole and resolves the engine's weak reference to it; the engine
      # archive after it resolves what the backend uses from the core.
      "libraries": [
        "<!@(bash ../scripts/cuda-link-flags.sh)",
        "<(module_root_dir)/../build/libdeepinfer_engine.a",
        "-lpthread"
      ]
    }
  ]
}
